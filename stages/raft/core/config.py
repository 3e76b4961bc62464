"""Configuration of one Raft core: its id, its timing in ticks, and every bound.

Time reaches the core only as ticks and randomness only through `rand`, so that a run is a
function of its inputs (and a simulator seed replays it exactly).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import IntEnum


class ReadOnlyOption(IntEnum):
    # SAFE confirms leadership with a heartbeat round per read batch (thesis 6.4): no clock
    # assumption, so it is the default.
    SAFE = 0
    # LEASE_BASED trusts the leader lease kept by check-quorum; faster, but wrong under clock
    # drift. Requires check_quorum.
    LEASE_BASED = 1


@dataclass(frozen=True, slots=True)
class Config:
    id: int
    rand: random.Random = field(default_factory=lambda: random.Random(0))
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    # The index the application has already applied on restart; entries up to it are not
    # handed out again.
    applied: int = 0
    max_size_per_msg_bytes: int = 1 << 20
    max_committed_size_per_ready_bytes: int = 1 << 26
    # 0 means unlimited. Bounds memory when the leader cannot commit (etcd's
    # MaxUncommittedEntriesSize).
    max_uncommitted_entries_bytes: int = 0
    max_inflight_msgs: int = 256
    max_inflight_bytes: int = 0
    check_quorum: bool = True
    pre_vote: bool = True
    read_only_option: ReadOnlyOption = ReadOnlyOption.SAFE
    disable_proposal_forwarding: bool = False

    def validate(self) -> None:
        if self.id <= 0:
            raise ValueError("raft id must be a positive integer")
        if self.heartbeat_ticks <= 0:
            raise ValueError("heartbeat_ticks must be greater than 0")
        if self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("election_ticks must be greater than heartbeat_ticks")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max_inflight_msgs must be greater than 0")
        if self.max_inflight_bytes and self.max_inflight_bytes < self.max_size_per_msg_bytes:
            raise ValueError("max_inflight_bytes must be >= max_size_per_msg_bytes")
        if self.read_only_option == ReadOnlyOption.LEASE_BASED and not self.check_quorum:
            raise ValueError("check_quorum must be on when read_only_option is LEASE_BASED")
