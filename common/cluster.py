"""The Cluster and Maintenance services' messages (etcdserverpb), as the KV ones in kv.py.

Attribute names are snake case; the gateway codec maps them to etcd's JSON names (ID,
peerURLs, clientURLs, isLearner, dbSize, raftIndex, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .kv import ResponseHeader


@dataclass(frozen=True, slots=True)
class Member:
    id: int = 0
    name: str = ""
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False


@dataclass(frozen=True, slots=True)
class MemberListRequest:
    pass


@dataclass(frozen=True, slots=True)
class MemberListResponse:
    header: ResponseHeader | None = None
    members: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberAddRequest:
    peer_urls: tuple[str, ...] = ()
    is_learner: bool = False


@dataclass(frozen=True, slots=True)
class MemberAddResponse:
    header: ResponseHeader | None = None
    member: Member | None = None
    members: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberRemoveRequest:
    id: int = 0


@dataclass(frozen=True, slots=True)
class MemberRemoveResponse:
    header: ResponseHeader | None = None
    members: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberUpdateRequest:
    id: int = 0
    peer_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberUpdateResponse:
    header: ResponseHeader | None = None
    members: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class MemberPromoteRequest:
    id: int = 0


@dataclass(frozen=True, slots=True)
class MemberPromoteResponse:
    header: ResponseHeader | None = None
    members: tuple[Member, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusRequest:
    pass


@dataclass(frozen=True, slots=True)
class StatusResponse:
    header: ResponseHeader | None = None
    version: str = ""
    db_size: int = 0
    leader: int = 0
    raft_index: int = 0
    raft_term: int = 0
    raft_applied_index: int = 0
    errors: tuple[str, ...] = ()
    db_size_in_use: int = 0
    is_learner: bool = False


class AlarmAction(IntEnum):
    GET = 0
    ACTIVATE = 1
    DEACTIVATE = 2


class AlarmType(IntEnum):
    NONE = 0
    NOSPACE = 1
    CORRUPT = 2


@dataclass(frozen=True, slots=True)
class AlarmRequest:
    action: AlarmAction = AlarmAction.GET
    member_id: int = 0
    alarm: AlarmType = AlarmType.NONE


@dataclass(frozen=True, slots=True)
class AlarmMember:
    member_id: int = 0
    alarm: AlarmType = AlarmType.NONE


@dataclass(frozen=True, slots=True)
class AlarmResponse:
    header: ResponseHeader | None = None
    alarms: tuple[AlarmMember, ...] = ()


@dataclass(frozen=True, slots=True)
class MoveLeaderRequest:
    target_id: int = 0


@dataclass(frozen=True, slots=True)
class MoveLeaderResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class HashRequest:
    pass


@dataclass(frozen=True, slots=True)
class HashResponse:
    header: ResponseHeader | None = None
    hash: int = 0


@dataclass(frozen=True, slots=True)
class HashKVRequest:
    revision: int = 0


@dataclass(frozen=True, slots=True)
class HashKVResponse:
    header: ResponseHeader | None = None
    hash: int = 0
    compact_revision: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    pass


@dataclass(frozen=True, slots=True)
class SnapshotResponse:
    """One chunk of a snapshot stream: `blob` holds the store's bytes, `remaining_bytes` how
    many are still to come after it; the last chunk holds the SHA-256 of the store instead."""
    header: ResponseHeader | None = None
    remaining_bytes: int = 0
    blob: bytes = b""


@dataclass(frozen=True, slots=True)
class DefragmentRequest:
    pass


@dataclass(frozen=True, slots=True)
class DefragmentResponse:
    """etcd 3.4 answers Defragment without a header."""
    header: ResponseHeader | None = None
