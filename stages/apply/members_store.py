"""Cluster membership as applied from the log: member id -> MemberInfo, and removed ids.

Theory of operation: every conf change that adds, promotes, updates or removes a member is an
applied raft entry whose context carries the member (common/membership.py), so every member
holds the same table at the same log position, and `member list` is a read of it. A removed id
is kept for good (etcd's members_removed): it can never be added back, and its member is told
it was removed if it ever calls again. Rows are keyed by the id (8 bytes, big-endian); removed
ids by b"r" + the id, so the two never mix in one scan.
"""
from __future__ import annotations

import struct

from petcd.common import codec
from petcd.common.pipeline import MemberInfo
from petcd.stages.apply.schema import Dbs

_ID = struct.Struct(">Q")
_REMOVED = b"r"


def put(txn, dbs: Dbs, member: MemberInfo) -> None:
    txn.put(_ID.pack(member.id), codec.encode(member), db=dbs.members)


def remove(txn, dbs: Dbs, member_id: int) -> bool:
    """Remove the member and remember its id as removed."""
    txn.put(_REMOVED + _ID.pack(member_id), b"", db=dbs.members)
    return txn.delete(_ID.pack(member_id), db=dbs.members)


def get(txn, dbs: Dbs, member_id: int) -> MemberInfo | None:
    raw = txn.get(_ID.pack(member_id), db=dbs.members)
    return codec.decode(raw) if raw is not None else None


def all_members(txn, dbs: Dbs) -> list[MemberInfo]:
    return [codec.decode(v) for k, v in txn.cursor(db=dbs.members).iternext()
            if len(k) == _ID.size]


def removed_ids(txn, dbs: Dbs) -> list[int]:
    cur = txn.cursor(db=dbs.members)
    out = []
    if cur.set_range(_REMOVED):
        for k in cur.iternext(values=False):
            if not k.startswith(_REMOVED):
                break
            if len(k) == len(_REMOVED) + _ID.size:  # not a member whose id starts with 'r'
                out.append(_ID.unpack(k[len(_REMOVED):])[0])
    return out
