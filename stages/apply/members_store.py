"""Cluster membership as applied from the log: member id -> MemberInfo.

Theory of operation: every conf change that adds, promotes or removes a member is an applied
raft entry whose context carries the MemberInfo (common/pipeline.py), so every member holds the
same list at the same log position, and `member list` is a read of this table.
"""
from __future__ import annotations

import struct

from petcd.common import codec
from petcd.common.pipeline import MemberInfo
from petcd.stages.apply.schema import Dbs

_ID = struct.Struct(">Q")


def put(txn, dbs: Dbs, member: MemberInfo) -> None:
    txn.put(_ID.pack(member.id), codec.encode(member), db=dbs.members)


def remove(txn, dbs: Dbs, member_id: int) -> bool:
    return txn.delete(_ID.pack(member_id), db=dbs.members)


def get(txn, dbs: Dbs, member_id: int) -> MemberInfo | None:
    raw = txn.get(_ID.pack(member_id), db=dbs.members)
    return codec.decode(raw) if raw is not None else None


def all_members(txn, dbs: Dbs) -> list[MemberInfo]:
    return [codec.decode(v) for v in txn.cursor(db=dbs.members).iternext(keys=False)]
