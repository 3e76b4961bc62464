"""Member and cluster ids, computed exactly as etcd computes them.

etcd derives a member's id from its sorted peer URLs and the cluster token (SHA-1, first 8
bytes big-endian), and the cluster id from the sorted member ids. Doing the same means the same
command line gives the same ids on petcd as on etcd, which tools and logs rely on.
"""
from __future__ import annotations

import hashlib
import struct


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
