"""The tail of the log that is not yet known to be durable.

Theory of operation: new entries (and an incoming snapshot) land here first. `ready()` hands them
to the caller for persistence and marks them in progress (`offset_in_progress`), so they are not
handed out twice. When the caller reports them durable (`stable_to`), they leave this buffer;
the caller has already appended them to `Storage` by then. A new leader can overwrite entries
that are still in progress; `truncate_and_append` pulls `offset_in_progress` back so that the
replacement is handed out again.

Invariant: entries[i].index == offset + i; offset_in_progress lies in
[offset, offset + len(entries)].
"""
from __future__ import annotations

from petcd.common.types import Entry, Snapshot


class Unstable:
    __slots__ = ("snapshot", "entries", "offset", "offset_in_progress", "snapshot_in_progress")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset
        self.offset_in_progress = offset
        self.snapshot_in_progress = False

    def maybe_first_index(self) -> int | None:
        return self.snapshot.metadata.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            snap = self.snapshot
            if snap is not None and snap.metadata.index == index:
                return snap.metadata.term
            return None
        i = index - self.offset
        if i >= len(self.entries):
            return None
        return self.entries[i].term

    def next_entries(self) -> list[Entry]:
        """Entries not yet handed out for persistence."""
        i = self.offset_in_progress - self.offset
        return self.entries[i:] if i < len(self.entries) else []

    def next_snapshot(self) -> Snapshot | None:
        if self.snapshot is None or self.snapshot_in_progress:
            return None
        return self.snapshot

    def accept_in_progress(self) -> None:
        if self.entries:
            self.offset_in_progress = self.offset + len(self.entries)
        if self.snapshot is not None:
            self.snapshot_in_progress = True

    def stable_to(self, index: int, term: int) -> None:
        got = self.maybe_term(index)
        if got is None or index < self.offset:
            return  # already stable, or a snapshot index; nothing of ours to drop
        if got != term:
            return  # overwritten by a newer leader since it was handed out; keep the new one
        n = index + 1 - self.offset
        del self.entries[:n]
        self.offset = index + 1
        self.offset_in_progress = max(self.offset_in_progress, self.offset)

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.metadata.index == index:
            self.snapshot = None
            self.snapshot_in_progress = False

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.metadata.index + 1
        self.offset_in_progress = self.offset
        self.entries = []
        self.snapshot = snapshot
        self.snapshot_in_progress = False

    def truncate_and_append(self, entries: list[Entry]) -> None:
        start = entries[0].index
        end = self.offset + len(self.entries)
        if start == end:
            self.entries.extend(entries)
        elif start <= self.offset:
            # Replace everything we hold: the new entries start at or before our first.
            self.offset = start
            self.offset_in_progress = start
            self.entries = list(entries)
        else:
            del self.entries[start - self.offset:]
            self.entries.extend(entries)
            self.offset_in_progress = min(self.offset_in_progress, start)

    def slice(self, lo: int, hi: int) -> list[Entry]:
        return self.entries[lo - self.offset:hi - self.offset]
