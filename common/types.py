"""Values that cross a process boundary: the Raft wire types.

Theory of operation: every value here is a frozen, slotted dataclass (or an int enum) so that it
can be shared between the pure Raft core, the stage loops and the codec without copies or
aliasing bugs. Nothing here does I/O or imports a codec; `petcd.common.codec` turns these into
msgpack at the edge. Field names follow etcd's raftpb, in snake case, so that a reader who knows
etcd-io/raft finds what they expect.

Invariants: an Entry never changes once created; `index` and `term` of an Entry are > 0 in any
log. A Message with term 0 is local (never sent over the network).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

NONE = 0  # etcd's raft.None: "no node" for leader and vote fields


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    type: int = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What Raft must persist before answering votes and appends (paper figure 2)."""
    term: int = 0
    vote: int = NONE
    commit: int = 0


EMPTY_HARD_STATE = HardState()


@dataclass(frozen=True, slots=True)
class ConfState:
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


class ConfChangeType(IntEnum):
    ADD_NODE = 0          # adds a voter, or promotes a learner
    REMOVE_NODE = 1
    ADD_LEARNER_NODE = 2
    UPDATE_NODE = 3       # a member's attributes (peer URLs) changed: the quorum does not


_CONF_CHANGE_HEAD = struct.Struct("<BQ")


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: int
    node_id: int
    context: bytes = b""

    def encode(self) -> bytes:
        # A fixed little binary head keeps the core free of any codec dependency.
        return _CONF_CHANGE_HEAD.pack(self.type, self.node_id) + self.context

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        if len(data) < _CONF_CHANGE_HEAD.size:
            raise ValueError("conf change entry is too short")
        type_, node_id = _CONF_CHANGE_HEAD.unpack_from(data)
        return cls(ConfChangeType(type_), node_id, bytes(data[_CONF_CHANGE_HEAD.size:]))


@dataclass(frozen=True, slots=True)
class SnapshotMetadata:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)
    data: bytes = b""


EMPTY_SNAPSHOT = Snapshot()


class MessageType(IntEnum):
    HUP = 0                 # local: start an election
    BEAT = 1                # local: leader sends heartbeats
    PROP = 2                # a proposal (local, or forwarded from a follower)
    APP = 3
    APP_RESP = 4
    VOTE = 5
    VOTE_RESP = 6
    SNAP = 7
    HEARTBEAT = 8
    HEARTBEAT_RESP = 9
    UNREACHABLE = 10        # local: transport could not reach `frm`
    SNAP_STATUS = 11        # local: snapshot to `frm` finished (reject = failed)
    CHECK_QUORUM = 12       # local: leader checks it still hears a quorum
    TRANSFER_LEADER = 13
    TIMEOUT_NOW = 14
    READ_INDEX = 15
    READ_INDEX_RESP = 16
    PRE_VOTE = 17
    PRE_VOTE_RESP = 18
    STORAGE_APPEND_RESP = 19  # local: the caller persisted a Ready's entries/snapshot


@dataclass(frozen=True, slots=True)
class Message:
    type: int
    to: int = NONE
    frm: int = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    snapshot: Snapshot | None = None
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""
