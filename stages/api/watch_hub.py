"""The watch hub of one api worker: every watcher of every stream, fed from LMDB.

Theory of operation. Events are not pushed to the api by apply; they are read back from the
MVCC history in LMDB, which apply commits before it announces `Applied(index, revision)`.
The hub remembers the last revision it dispatched (`revision`). When a higher revision is
announced (`on_applied`), or a new watch needs the present (`refresh`), it reads the events of
(revision, new] once, in pages of `page_events`, and hands each revision's events to the
watchers whose key or range holds them: single keys through a dict, ranges by a scan. Every
watcher is in one of two states, as in etcd's watchableStore:

- synced: it gets live events, one response per revision with header.revision = that revision
  (etcd's notify). Its sink (the stream) buffers what the client has not read yet; the hub
  counts those events in `pending_events`. A delivery that would take a watcher past
  `buffer_events` makes it unsynced instead, at the first revision it missed. So a slow client
  never blocks apply, the loop, or the other watchers, and memory stays bounded.
- unsynced: it reads history itself from `next_rev` (new watches with an old start_revision,
  and watchers that fell behind). A sync pass runs on the loop, soon after there is work:
  unsynced watchers whose buffer has drained read one page from the lowest next_rev up to the
  hub's revision (one read shared by all of them) and get one response each, with all their
  revisions batched and header.revision = the hub's revision (etcd's syncWatchers uses curRev).
  A watcher that reaches the hub's revision is synced again. A watcher whose next_rev is below
  the compact revision is canceled with compact_revision (etcd's chooseAll).

Because the hub, the streams and the pipe reader all run on one asyncio loop, and a revision's
events are read from one LMDB snapshot, each watcher sees every matching revision exactly once,
in order, with no gaps, and a revision's events are never split across responses (fragmenting
aside, which the stream does).

Must never: block on a client; hold more than `buffer_events` (or one revision, if larger)
undelivered events for a watcher; deliver an event twice or skip one; read the same revisions
from LMDB once per watcher on the live path.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Protocol

from petcd.common import failpoint
from petcd.common.errors import EtcdError
from petcd.common.kv import Event, EventType, FilterType

# Watcher.end values (etcd's watchStream distinguishes nil and []byte{}):
SINGLE_KEY = None   # the watcher's key only
FROM_KEY = b""      # every key >= key (range_end "\0" in a request)


class Sink(Protocol):
    """Where a watcher's responses go: its stream."""

    def deliver(self, w: Watcher, events: list[Event], header_revision: int) -> None: ...

    def compacted(self, w: Watcher, compact_revision: int) -> None: ...


class Watcher:
    """One watch, as the hub sees it. Mutable state, owned by the loop."""
    __slots__ = ("id", "key", "end", "no_put", "no_delete", "prev_kv", "fragment",
                 "progress_notify", "sink", "next_rev", "synced", "pending_events", "in_hub",
                 "progress_due")

    def __init__(self, id: int, key: bytes, end: bytes | None, start_revision: int,
                 sink: Sink, *, filters: tuple = (), prev_kv: bool = False,
                 fragment: bool = False, progress_notify: bool = False) -> None:
        self.id = id
        self.key = key
        self.end = end
        self.no_put = FilterType.NOPUT in filters
        self.no_delete = FilterType.NODELETE in filters
        self.prev_kv = prev_kv
        self.fragment = fragment
        self.progress_notify = progress_notify
        self.sink = sink
        self.next_rev = start_revision  # the first revision not yet delivered (or skipped)
        self.synced = False
        self.pending_events = 0         # delivered to the sink, not yet written to the client
        self.in_hub = False
        self.progress_due = True        # no events since the last progress tick (stream's)

    def matches(self, key: bytes) -> bool:
        end = self.end
        if end is None:
            return key == self.key
        if not end:
            return key >= self.key
        return self.key <= key < end

    def select(self, events, stripped: dict) -> list[Event]:
        """This watcher's share of some events: its keys, its filters, prev_kv if asked."""
        out = []
        for ev in events:
            if not self.matches(ev.kv.key):
                continue
            if ev.type == EventType.PUT:
                if self.no_put:
                    continue
            elif self.no_delete:
                continue
            if ev.prev_kv is not None and not self.prev_kv:
                s = stripped.get(id(ev))
                if s is None:
                    s = stripped[id(ev)] = dataclasses.replace(ev, prev_kv=None)
                ev = s
            out.append(ev)
        return out


class WatchHub:
    def __init__(self, reader, *, buffer_events: int, page_events: int,
                 schedule: Callable[[Callable[[], None]], object]) -> None:
        """reader: events(start, end, prev_kv, limit), current_revision(), compact_revision()
        (an MvccReader). schedule(fn): run fn soon on the loop (loop.call_soon)."""
        self.reader = reader
        self.buffer_events = max(1, buffer_events)
        self.page_events = max(1, page_events)
        self._schedule = schedule
        self.revision = reader.current_revision()
        self._keys: dict[bytes, list[Watcher]] = {}
        self._ranges: list[Watcher] = []
        self._unsynced: set[Watcher] = set()
        self._count = 0
        self._prev_kv_count = 0
        self._sync_scheduled = False
        # counters (for /metrics and tests)
        self.events_read = 0
        self.slow_watchers_total = 0

    def __len__(self) -> int:
        return self._count

    @property
    def unsynced(self) -> int:
        return len(self._unsynced)

    # -- membership -----------------------------------------------------------------------------

    def add(self, w: Watcher) -> None:
        """Start feeding w from w.next_rev (0 or less: from the beginning of history)."""
        if w.end is SINGLE_KEY:
            self._keys.setdefault(w.key, []).append(w)
        else:
            self._ranges.append(w)
        w.in_hub = True
        self._count += 1
        self._prev_kv_count += w.prev_kv
        if w.next_rev > self.revision:
            w.synced = True
        else:
            self._unsync(w)

    def remove(self, w: Watcher) -> None:
        if not w.in_hub:
            return
        w.in_hub = False
        if w.end is SINGLE_KEY:
            ws = self._keys[w.key]
            ws.remove(w)
            if not ws:
                del self._keys[w.key]
        else:
            self._ranges.remove(w)
        self._unsynced.discard(w)
        self._count -= 1
        self._prev_kv_count -= w.prev_kv

    def drained(self, w: Watcher) -> None:
        """The stream wrote all of w's buffered events: an unsynced w may read on."""
        if w.in_hub and not w.synced:
            self._kick()

    # -- the live path --------------------------------------------------------------------------

    def refresh(self) -> int:
        """Catch up with what LMDB holds now (a new watch must not start behind a write its
        client has already seen answered), and return the revision."""
        self.on_applied(self.reader.current_revision())
        return self.revision

    def on_applied(self, revision: int) -> None:
        if revision <= self.revision:
            return
        if self._count == len(self._unsynced):  # nobody listens live: nothing to read
            self.revision = revision
            return
        start = self.revision + 1
        while start <= revision:
            try:
                events, covered = self._read_page(start, revision, self._prev_kv_count > 0)
            except EtcdError:
                # Compacted under us (the snapshot is newer than `revision`): the live
                # watchers catch up, or are canceled, on the unsynced path.
                for w in self._all():
                    if w.synced:
                        # Everything before `start` was handled; a watch of a future
                        # revision must keep it (found by the robustness harness: a lagging
                        # member canceled a watch from revision 98 as "compacted at 98").
                        w.next_rev = max(w.next_rev, start)
                        self._unsync(w)
                break
            self._dispatch(events)
            start = covered + 1
        self.revision = revision

    def _dispatch(self, events: list[Event]) -> None:
        keys, ranges = self._keys, self._ranges
        i, n = 0, len(events)
        while i < n:
            rev = events[i].kv.mod_revision
            j = i
            while j < n and events[j].kv.mod_revision == rev:
                j += 1
            group = events[i:j]
            i = j
            targets: dict[Watcher, None] = {}
            for ev in group:
                for w in keys.get(ev.kv.key, ()):
                    targets[w] = None
            if ranges:
                for w in ranges:
                    if w not in targets:
                        for ev in group:
                            if w.matches(ev.kv.key):
                                targets[w] = None
                                break
            stripped: dict = {}
            for w in targets:
                if not w.synced or w.next_rev > rev:
                    continue
                mine = w.select(group, stripped)
                if not mine:
                    continue
                if w.pending_events and w.pending_events + len(mine) > self.buffer_events:
                    # The client reads slower than we write: stop buffering for it; it reads
                    # from LMDB from this revision once it has drained (etcd's victims).
                    w.next_rev = rev
                    self.slow_watchers_total += 1
                    self._unsync(w)
                    continue
                w.next_rev = rev + 1
                w.pending_events += len(mine)
                w.sink.deliver(w, mine, rev)

    # -- the unsynced path ----------------------------------------------------------------------

    def _unsync(self, w: Watcher) -> None:
        w.synced = False
        self._unsynced.add(w)
        self._kick()

    def _kick(self) -> None:
        if not self._sync_scheduled:
            self._sync_scheduled = True
            self._schedule(self._sync_pass)

    def _sync_pass(self) -> None:
        """One bounded step of catch-up; schedules the next while there is more to do."""
        self._sync_scheduled = False
        failpoint.hit("watch.before_sync")
        ready = [w for w in self._unsynced if w.pending_events == 0]
        if not ready:
            return  # the rest wait for their buffers to drain (drained() kicks us)
        compact = self.reader.compact_revision()
        cur = self.revision
        batch = []
        for w in ready:
            if w.next_rev < compact:
                self.remove(w)
                w.sink.compacted(w, compact)
            elif w.next_rev > cur:
                w.synced = True
                self._unsynced.discard(w)
            else:
                batch.append(w)
        if batch:
            start = min(w.next_rev for w in batch)
            try:
                events, covered = self._read_page(start, cur, any(w.prev_kv for w in batch))
            except EtcdError:  # compacted since we looked: the next pass cancels them
                self._kick()
                return
            stripped: dict = {}
            for w in batch:
                nxt = w.next_rev
                mine = w.select([e for e in events if e.kv.mod_revision >= nxt]
                                if nxt > start else events, stripped)
                w.next_rev = covered + 1
                if mine:
                    w.pending_events += len(mine)
                    w.sink.deliver(w, mine, cur)
                if covered >= cur:
                    w.synced = True
                    self._unsynced.discard(w)
        if any(w.pending_events == 0 for w in self._unsynced):
            self._kick()

    # -- reading --------------------------------------------------------------------------------

    def _read_page(self, start: int, end: int, prev_kv: bool) -> tuple[list[Event], int]:
        """Events of whole revisions from start: (events, last revision covered <= end)."""
        limit = self.page_events
        events = self.reader.events(start, end, prev_kv, limit)
        if len(events) < limit:
            self.events_read += len(events)
            return events, end
        last = events[-1].kv.mod_revision
        if events[0].kv.mod_revision == last:
            # One revision larger than a page: it is never split, so it is read whole.
            events = self.reader.events(last, last, prev_kv, 0)
            self.events_read += len(events)
            return events, last
        cut = len(events) - 1
        while events[cut - 1].kv.mod_revision == last:
            cut -= 1
        self.events_read += cut
        return events[:cut], last - 1

    def _all(self):
        for ws in list(self._keys.values()):
            yield from ws
        yield from list(self._ranges)
