"""Fake durable storage of one member: a MemoryStorage that holds only what is durable, plus a
FIFO queue of persists in flight.

Theory of operation: `persist(...)` queues one Ready's durable parts (hard state, snapshot,
entries) with the messages that may leave once they are on disk. Each persist completes after a
random latency, never before an earlier one (FIFO, like one WAL with one fsync stream). On
completion the parts are written into `storage` (snapshot, then entries, then hard state: one
atomic WAL record batch) and the callback gets the persist messages. `crash()` loses every
persist that has not completed (unsynced writes); `storage` keeps exactly what completed, which
is what a restarted node reads. Snapshots a node takes of its own state machine
(`create_snapshot` + `compact`) are written straight to `storage`: they are local and durable
when taken.
"""
from __future__ import annotations

import random
from collections import deque
from typing import Callable

from petcd.common.types import Entry, HardState, Message, Snapshot
from petcd.stages.raft.core import MemoryStorage
from .events import EventQueue

PersistDone = Callable[[Snapshot | None, list[Message]], None]


class Disk:
    __slots__ = ("storage", "rng", "events", "min_delay", "max_delay", "_queue", "_last_done",
                 "_epoch", "writes", "lost")

    def __init__(self, rng: random.Random, events: EventQueue, min_delay: int,
                 max_delay: int) -> None:
        self.storage = MemoryStorage()
        self.rng = rng
        self.events = events
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._queue: deque[tuple] = deque()
        self._last_done = 0
        self._epoch = 0   # bumped by a crash: completions scheduled before it are void
        self.writes = 0
        self.lost = 0

    def pending(self) -> int:
        return len(self._queue)

    def persist(self, hard_state: HardState | None, snapshot: Snapshot | None,
                entries: list[Entry], messages: list[Message], done: PersistDone) -> None:
        done_at = max(self.events.now + self.rng.randint(self.min_delay, self.max_delay),
                      self._last_done)
        self._last_done = done_at
        self._queue.append((hard_state, snapshot, entries, messages, done))
        self.events.at(done_at, self._complete, self._epoch)

    def _complete(self, epoch: int) -> None:
        if epoch != self._epoch:
            return  # queued before a crash: lost
        hard_state, snapshot, entries, messages, done = self._queue.popleft()
        storage = self.storage
        if snapshot is not None:
            storage.apply_snapshot(snapshot)
        if entries:
            storage.append(entries)
        if hard_state is not None:
            storage.set_hard_state(hard_state)
        self.writes += 1
        done(snapshot, messages)

    def crash(self) -> None:
        self.lost += len(self._queue)
        self._queue.clear()
        self._epoch += 1
        self._last_done = 0
