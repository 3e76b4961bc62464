"""The values the core hands to its caller.

A `Ready` is a batch of work, in the asynchronous-storage form of etcd-io/raft: the caller may
send `messages` at once, must persist `hard_state`, `entries` and `snapshot` (in that order,
after every earlier Ready's), and only then deliver `persist_messages` (step those addressed to
this node, send the rest). `committed_entries` go to the state machine; the caller reports back
with `RawNode.applied_to(index)`. `read_states` answer `read_index` requests: the read may be
served once the applied index reaches `index`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from petcd.common.types import Entry, HardState, Message, Snapshot


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reporting: who leads, and our role. Never persisted."""
    lead: int
    raft_state: int


@dataclass(frozen=True, slots=True)
class ReadState:
    index: int
    request_ctx: bytes


@dataclass(frozen=True, slots=True)
class Ready:
    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    persist_messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)

    @property
    def must_persist(self) -> bool:
        """Whether anything must go through the persistence queue (even just messages)."""
        return bool(self.hard_state is not None or self.entries or self.snapshot is not None
                    or self.persist_messages)

    @property
    def must_sync(self) -> bool:
        """Whether the persist needs an fsync (etcd's MustSync): new entries or term/vote."""
        return bool(self.entries) or self.snapshot is not None or (
            self.hard_state is not None and self._term_or_vote_changed)

    # Set by RawNode so must_sync can tell a commit-only hard state change (no fsync needed).
    _term_or_vote_changed: bool = False
