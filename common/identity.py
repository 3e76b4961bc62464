"""This member's identity: its member id, its cluster's id, and the cluster it started in.

Theory of operation. etcd fixes these when a member first starts and keeps them in its WAL;
petcd keeps them in member/identity.json, written once by the supervisor before any stage
starts, and read by every stage. For a new cluster they follow from the flags, as etcd computes
them (common/ids.py). A member that joins an existing cluster gets them from a peer
(supervisor/join.py): its id was chosen when it was added, from the time of the add. A data
dir from before this file existed gets them from the flags, as it did then.

Must never: change once written; the ids are in every header and every peer's log.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .ids import cluster_id, initial_members
from .layout import identity_path
from .pipeline import MemberInfo

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Identity:
    cluster_id: int
    member_id: int
    members: tuple[MemberInfo, ...]   # the cluster as this member first knew it

    @property
    def peers(self) -> tuple[MemberInfo, ...]:
        return tuple(m for m in self.members if m.id != self.member_id)


def from_config(cfg) -> Identity:
    """A member of a new cluster: everything follows from --initial-cluster and its token."""
    members = initial_members(cfg)
    me = next(m for m in members if m.name == cfg.name)
    return Identity(cluster_id([m.id for m in members]), me.id, tuple(members))


def load(data_dir: str) -> Identity | None:
    try:
        with open(identity_path(data_dir)) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    if doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"{identity_path(data_dir)}: unknown format {doc.get('version')!r}")
    return Identity(doc["cluster_id"], doc["member_id"], tuple(
        MemberInfo(m["id"], m["name"], tuple(m["peer_urls"]), tuple(m["client_urls"]),
                   m["is_learner"]) for m in doc["members"]))


def save(data_dir: str, identity: Identity) -> None:
    doc = {"version": FORMAT_VERSION, "cluster_id": identity.cluster_id,
           "member_id": identity.member_id,
           "members": [{"id": m.id, "name": m.name, "peer_urls": list(m.peer_urls),
                        "client_urls": list(m.client_urls), "is_learner": m.is_learner}
                       for m in identity.members]}
    path = identity_path(data_dir)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def of(cfg) -> Identity:
    """What a stage calls: the saved identity, or (a data dir from before it was saved) the
    one the flags give."""
    return load(cfg.data_dir) or from_config(cfg)
