"""What the stages of a member say to each other about the cluster's membership.

Theory of operation. A client's MemberAdd, MemberRemove, MemberUpdate or MemberPromote becomes
a MemberChangeAsk from the api to its raft stage, which hands it to the leader's raft stage
(through transport when another member leads). Only the leader checks it: against the member
table that apply last reported (Membership), its followers' progress, and which peers its
transport reaches (PeerActivity). The core lets one conf change be pending at a time and the
leader checks only once every earlier change is applied, so the table it checks against is the
one the change will be applied to; this is why apply need not check again (etcd checks at
apply time instead). A refused ask goes back as MemberChangeRefused; an accepted one becomes a
conf-change entry whose context is a MemberChangeContext: every member's apply records it, and
the asking member's apply answers the client.

Apply reports the member table to raft at start and after every batch that changed it; raft
passes it on to transport, which dials new peers and hangs up on removed ones. A member that
joins an existing cluster learns its id from a peer's transport (ClusterAsk, ClusterInfo). A
removed member stops itself (MemberRemoved to the supervisor), whether it applied its own
removal or a peer told it (RemovedNotice) after a restart.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from . import codec
from .pipeline import MemberInfo


class MemberChangeKind(IntEnum):
    ADD = 0
    REMOVE = 1
    UPDATE = 2
    PROMOTE = 3


@dataclass(frozen=True, slots=True)
class MemberChangeAsk:
    """api -> raft (-> the leader's raft through transport, `to` set): change the membership.

    `member` is the whole member for ADD (its new id, peer URLs, is_learner) and UPDATE (the
    new peer URLs); only its id counts for REMOVE and PROMOTE."""
    origin: int
    worker: int
    request_id: int
    kind: int
    member: MemberInfo
    to: int = 0


@dataclass(frozen=True, slots=True)
class MemberChangeRefused:
    """The leader's raft refused an ask (an etcd error), or could not take it (`code` 0: no
    leader here, ask again). Goes back to the asking member's raft, then to its api worker."""
    origin: int
    worker: int
    request_id: int
    code: int
    message: str
    to: int = 0


@dataclass(frozen=True, slots=True)
class MemberChangeContext:
    """The context of the conf-change entry of an accepted ask: what apply records, and whom
    it answers (request_id on member `origin`)."""
    kind: int
    member: MemberInfo
    request_id: int
    origin: int


@dataclass(frozen=True, slots=True)
class Membership:
    """apply -> raft -> transport: the member table, and the ids removed for good."""
    members: tuple[MemberInfo, ...]
    removed: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PeerActivity:
    """transport -> raft: the connection to a peer came up (active) or went down."""
    node_id: int
    active: bool


@dataclass(frozen=True, slots=True)
class ClusterAsk:
    """A joining member's supervisor asks a peer's transport who is in the cluster."""


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    cluster_id: int
    members: tuple[MemberInfo, ...]


@dataclass(frozen=True, slots=True)
class RemovedNotice:
    """A peer's transport tells a member that it was removed from the cluster (etcd's peer
    handler answers such a member with 410 Gone)."""
    member_id: int


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """A stage tells the supervisor that this member was removed: stop it, exit 0."""
    stage: str


# Codes 110..119 (common/codec.py: never reuse or renumber one).
for _code, _cls in enumerate((
        MemberChangeAsk, MemberChangeRefused, MemberChangeContext, Membership, PeerActivity,
        ClusterAsk, ClusterInfo, RemovedNotice, MemberRemoved), start=110):
    codec.register(_code, _cls)
