"""The Raft log: stable storage plus the unstable tail, and the commit/apply cursors.

Theory of operation: indexes below `first_index()` are compacted into a snapshot; the entries
`[first_index, unstable.offset)` are in Storage (durable); the rest are in `unstable`.
Cursors: `applied <= applying <= committed <= last_index()`. `applying` counts entries handed
out to the application but not yet reported applied, so they are not handed out twice.

With asynchronous storage, committed entries are handed out only once they are durable here too
(`unstable.offset - 1`): an entry is applied only after it is in the local WAL, so replay after a
crash always finds every applied entry (DESIGN.md section 3).

Must never: move `committed` backwards, or overwrite a committed entry (that is a safety bug and
raises).
"""
from __future__ import annotations

from petcd.common.types import Entry, Snapshot
from .errors import Compacted, RaftError
from .storage import Storage, entries_size, limit_size
from .unstable import Unstable


class RaftLog:
    __slots__ = ("storage", "unstable", "committed", "applying", "applied",
                 "max_applying_size_bytes")

    def __init__(self, storage: Storage, max_applying_size_bytes: int = 0) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applying = first - 1
        self.applied = first - 1
        self.max_applying_size_bytes = max_applying_size_bytes

    # -- indexes and terms --------------------------------------------------------------------

    def first_index(self) -> int:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def last_term(self) -> int:
        return self.term(self.last_index())

    def term(self, index: int) -> int:
        """The term of the entry at index; 0 if it is compacted or beyond the last index."""
        t = self.unstable.maybe_term(index)
        if t is not None:
            return t
        storage = self.storage
        if index < storage.first_index() - 1 or index > storage.last_index():
            return 0
        return storage.term(index)

    def is_compacted(self, index: int) -> bool:
        return index < self.first_index() - 1

    def match_term(self, index: int, term: int) -> bool:
        if index > self.last_index() or self.is_compacted(index):
            return False
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Paper 5.4.1: the candidate's log is at least as up to date as ours."""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    def stable_last_index(self) -> int:
        """The last index known durable locally (what a leader may count as its own match)."""
        if self.unstable.snapshot is not None:
            return 0
        return self.unstable.offset - 1

    # -- appending ----------------------------------------------------------------------------

    def maybe_append(self, index: int, log_term: int, committed: int,
                     entries: tuple[Entry, ...] | list[Entry]) -> int | None:
        """Append entries after (index, log_term) if our log matches there (paper 5.3).

        Returns the index of the last new entry, or None when the log does not match.
        """
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise RaftError(
                    f"entry {conflict} conflicts with committed entry (committed {self.committed})")
            self.append(list(entries[conflict - index - 1:]))
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, entries: list[Entry]) -> int:
        if not entries:
            return self.last_index()
        after = entries[0].index - 1
        if after < self.committed:
            raise RaftError(f"append after {after} is below committed {self.committed}")
        self.unstable.truncate_and_append(entries)
        return self.last_index()

    def find_conflict(self, entries) -> int:
        """The index of the first entry that is new or differs from ours; 0 if none."""
        if not entries:
            return 0
        if entries[0].index > self.last_index():
            return entries[0].index  # the common case: all new, no term lookups needed
        for e in entries:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= `index` whose term is <= `term`, with that term.

        Used for the fast back-off of a rejected append (paper 5.3, the optimization at the end
        of the section): one round trip skips a whole term of mismatched entries.
        """
        first = self.first_index()
        while index >= first - 1:
            t = self.term(index)
            if t <= term:
                return index, t
            index -= 1
        return index, 0

    # -- commit and apply ---------------------------------------------------------------------

    def commit_to(self, to_commit: int) -> None:
        if to_commit > self.committed:
            if to_commit > self.last_index():
                raise RaftError(
                    f"commit index {to_commit} is out of range [last index {self.last_index()}]")
            self.committed = to_commit

    def maybe_commit(self, max_index: int, term: int) -> bool:
        # Paper 5.4.2: only entries of the current term commit by counting replicas.
        if max_index > self.committed and self.term(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def _max_appliable_index(self) -> int:
        return min(self.committed, self.unstable.offset - 1)

    def has_next_committed_ents(self) -> bool:
        if self.unstable.snapshot is not None:
            return False  # the snapshot must be installed before anything after it applies
        return self.applying < self._max_appliable_index()

    def next_committed_ents(self) -> list[Entry]:
        if not self.has_next_committed_ents():
            return []
        lo = max(self.applying + 1, self.first_index())
        hi = self._max_appliable_index() + 1
        return self.slice(lo, hi, self.max_applying_size_bytes)

    def accept_applying(self, index: int) -> None:
        self.applying = max(self.applying, index)

    def applied_to(self, index: int) -> None:
        if index <= self.applied:
            return
        if index > self.committed:
            raise RaftError(f"applied {index} is beyond committed {self.committed}")
        self.applied = index
        self.applying = max(self.applying, index)

    # -- persistence progress -----------------------------------------------------------------

    def next_unstable_ents(self) -> list[Entry]:
        return self.unstable.next_entries()

    def next_unstable_snapshot(self) -> Snapshot | None:
        return self.unstable.next_snapshot()

    def accept_unstable(self) -> None:
        self.unstable.accept_in_progress()

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        self.unstable.stable_snap_to(index)

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.metadata.index
        self.unstable.restore(snapshot)

    # -- reading ------------------------------------------------------------------------------

    def entries(self, lo: int, max_bytes: int = 0) -> list[Entry]:
        last = self.last_index()
        if lo > last:
            return []
        return self.slice(lo, last + 1, max_bytes)

    def slice(self, lo: int, hi: int, max_bytes: int = 0) -> list[Entry]:
        """Entries in [lo, hi), at most max_bytes (but at least one). Raises Compacted."""
        if lo >= hi:
            return []
        if lo < self.first_index():
            raise Compacted(f"index {lo} is compacted (first index {self.first_index()})")
        offset = self.unstable.offset
        if hi <= offset:
            return self.storage.entries(lo, hi, max_bytes)
        if lo >= offset:
            ents = self.unstable.slice(lo, hi)
            return limit_size(ents, max_bytes) if max_bytes else ents
        ents = self.storage.entries(lo, offset, max_bytes)
        if len(ents) < offset - lo:
            return ents  # already at the size limit
        ents = ents + self.unstable.slice(offset, hi)
        return limit_size(ents, max_bytes) if max_bytes else ents

    def all_entries(self) -> list[Entry]:
        try:
            return self.entries(self.first_index())
        except Compacted:
            return self.all_entries()  # a compaction raced us; only in tests


__all__ = ["RaftLog", "entries_size"]
