"""Member and cluster ids, computed exactly as etcd computes them.

etcd derives a member's id from its sorted peer URLs and the cluster token (SHA-1, first 8
bytes big-endian), and the cluster id from the sorted member ids. Doing the same means the same
command line gives the same ids on petcd as on etcd, which tools and logs rely on.
"""
from __future__ import annotations

import hashlib
import struct

from .pipeline import MemberInfo


def member_id(peer_urls: list[str] | tuple[str, ...], cluster_token: str,
              now_unix: int | None = None) -> int:
    b = "".join(sorted(peer_urls)).encode() + cluster_token.encode()
    if now_unix is not None:  # etcd adds the time for members added at runtime
        b += str(now_unix).encode()
    return struct.unpack(">Q", hashlib.sha1(b).digest()[:8])[0]


def cluster_id(member_ids: list[int] | tuple[int, ...]) -> int:
    b = b"".join(struct.pack(">Q", m) for m in sorted(member_ids))
    return struct.unpack(">Q", hashlib.sha1(b).digest()[:8])[0]


def parse_initial_cluster(text: str) -> dict[str, list[str]]:
    """'a=http://h:1,b=http://h:2,a=http://h:3' -> {'a': [...], 'b': [...]}, in order."""
    out: dict[str, list[str]] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"bad --initial-cluster entry {item!r} (want name=url)")
        out.setdefault(name, []).append(url)
    return out


def initial_members(cfg) -> list[MemberInfo]:
    """The initial cluster from the config (--initial-cluster, or this member alone), with
    etcd's member ids; this member's client URLs are filled in."""
    cluster = parse_initial_cluster(cfg.initial_cluster) if cfg.initial_cluster else {
        cfg.name: list(cfg.initial_advertise_peer_urls)}
    if cfg.name not in cluster:
        raise ValueError(f"--initial-cluster has no entry for this member {cfg.name!r}")
    members = []
    for name, urls in cluster.items():
        client_urls = tuple(cfg.advertise_client_urls) if name == cfg.name else ()
        members.append(MemberInfo(id=member_id(urls, cfg.initial_cluster_token), name=name,
                                  peer_urls=tuple(urls), client_urls=client_urls))
    return members
