"""The stable log as the core sees it: a read-only `Storage` protocol, and `MemoryStorage`.

Theory of operation: the core only ever reads storage. The caller writes to it, and only after
the entries (or snapshot) are durable, then tells the core with a STORAGE_APPEND_RESP. So what
storage holds is always a prefix-consistent copy of what is on disk. `MemoryStorage` is used by
the tests, the simulator and the raft process (as its cache in front of the WAL).

MemoryStorage keeps a dummy entry at position 0 whose index and term are the snapshot's, so that
term(first_index - 1) is always answerable (needed for the log matching check of the first
entry after a snapshot).
"""
from __future__ import annotations

from typing import Protocol, Sequence

from petcd.common.types import (
    EMPTY_HARD_STATE, ConfState, Entry, HardState, Snapshot, SnapshotMetadata,
)
from .errors import Compacted, SnapshotOutOfDate, Unavailable

# Per-entry framing cost counted in byte limits, so that a run of empty entries is bounded too.
ENTRY_OVERHEAD_BYTES = 16


def entry_size(entry: Entry) -> int:
    return len(entry.data) + ENTRY_OVERHEAD_BYTES


def entries_size(entries: Sequence[Entry]) -> int:
    return sum(len(e.data) for e in entries) + ENTRY_OVERHEAD_BYTES * len(entries)


def limit_size(entries: list[Entry], max_bytes: int) -> list[Entry]:
    """The longest prefix within max_bytes, but always at least one entry (as etcd does)."""
    if not entries or max_bytes <= 0:
        return entries
    total = 0
    for n, e in enumerate(entries):
        total += len(e.data) + ENTRY_OVERHEAD_BYTES
        if total > max_bytes and n > 0:
            return entries[:n]
    return entries


class Storage(Protocol):
    def initial_state(self) -> tuple[HardState, ConfState]: ...
    def entries(self, lo: int, hi: int, max_bytes: int = 0) -> list[Entry]: ...
    def term(self, index: int) -> int: ...
    def first_index(self) -> int: ...
    def last_index(self) -> int: ...
    def snapshot(self) -> Snapshot: ...


class MemoryStorage:
    def __init__(self) -> None:
        self.hard_state: HardState = EMPTY_HARD_STATE
        self._snapshot: Snapshot = Snapshot()
        self._ents: list[Entry] = [Entry(term=0, index=0)]

    # -- Storage protocol ---------------------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self._snapshot.metadata.conf_state

    def entries(self, lo: int, hi: int, max_bytes: int = 0) -> list[Entry]:
        """Entries in [lo, hi)."""
        offset = self._ents[0].index
        if lo <= offset:
            raise Compacted(f"index {lo} is compacted (first index {offset + 1})")
        if hi > self.last_index() + 1:
            raise Unavailable(f"entries up to {hi - 1} requested, last index {self.last_index()}")
        ents = self._ents[lo - offset:hi - offset]
        return limit_size(ents, max_bytes) if max_bytes else ents

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise Compacted(f"index {index} is compacted")
        if index - offset >= len(self._ents):
            raise Unavailable(f"index {index} is beyond the last index {self.last_index()}")
        return self._ents[index - offset].term

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes, done by the caller once things are durable -----------------------------------

    def save(self, snapshot: Snapshot | None, hard_state: HardState | None,
             entries: Sequence[Entry]) -> None:
        """Record what a Ready asked to persist, once it is durable: snapshot first (it resets
        the log), then hard state and entries."""
        if snapshot is not None:
            self.apply_snapshot(snapshot)
        if hard_state is not None:
            self.hard_state = hard_state
        if entries:
            self.append(entries)

    def set_hard_state(self, hard_state: HardState) -> None:
        self.hard_state = hard_state

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.metadata.index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDate(
                f"snapshot at {snapshot.metadata.index} is not newer than "
                f"{self._snapshot.metadata.index}")
        self._snapshot = snapshot
        self._ents = [Entry(term=snapshot.metadata.term, index=snapshot.metadata.index)]

    def create_snapshot(self, index: int, conf_state: ConfState | None, data: bytes) -> Snapshot:
        """Record a snapshot of the state machine at `index` (which must be in the log)."""
        if index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDate(f"snapshot at {index} is not newer than the current one")
        if index > self.last_index():
            raise Unavailable(f"snapshot index {index} is beyond the last index")
        offset = self._ents[0].index
        meta = SnapshotMetadata(index=index, term=self._ents[index - offset].term,
                                conf_state=conf_state or self._snapshot.metadata.conf_state)
        self._snapshot = Snapshot(metadata=meta, data=data)
        return self._snapshot

    def compact(self, compact_index: int) -> None:
        """Drop entries before compact_index; it becomes the new dummy entry."""
        offset = self._ents[0].index
        if compact_index <= offset:
            raise Compacted(f"index {compact_index} is already compacted")
        if compact_index > self.last_index():
            raise Unavailable(f"compact index {compact_index} is beyond the last index")
        i = compact_index - offset
        self._ents = [Entry(term=self._ents[i].term, index=compact_index)] + self._ents[i + 1:]

    def append(self, entries: Sequence[Entry]) -> None:
        """Append, truncating any conflicting suffix (a new leader overwrote it)."""
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return  # wholly compacted already
        if entries[0].index < first:
            entries = entries[first - entries[0].index:]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise Unavailable(
                f"missing log entry: last index {self.last_index()}, "
                f"append at {entries[0].index}")
        del self._ents[offset:]
        self._ents.extend(entries)
