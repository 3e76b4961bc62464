"""What the raft stage sends to wal: a bounded number of batches of appends in flight.

Theory of operation: while wal is busy with the batches in flight (writing, then one
fdatasync each), the appends that raft produces meanwhile wait here and leave together as one
frame once wal has answered a batch. wal would have drained and synced them together anyway
(group commit); one frame spares both stages a wakeup and a decode per Ready. Two batches
in flight by default, not one: wal then finds the next batch waiting when its fdatasync
returns instead of idling for a round trip to raft, and a lone entry is not held behind the
hard-state-only append that follows each commit (a round trip per put for a single client).
Snapshot saves (SaveSnapshot) queue in the same line, so wal sees everything in raft's order.

Must never: reorder what raft queued, or hold appends while fewer than `max_in_flight`
batches await their answer.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

from petcd.common.pipeline import AppendRequest, Many


class AppendQueue:
    def __init__(self, send: Callable[[object], None], max_in_flight: int) -> None:
        """max_in_flight: --raft-max-inflight-appends."""
        self._send = send
        self._max_in_flight = max_in_flight
        self._queued: list = []
        self._awaited: deque[int] = deque()  # the last AppendRequest seq of each batch in flight

    def push(self, request: object) -> None:
        self._queued.append(request)

    def done(self, seq: int) -> None:
        """wal answered AppendRequest `seq` (answers arrive in seq order)."""
        while self._awaited and self._awaited[0] <= seq:
            self._awaited.popleft()

    @property
    def in_flight(self) -> int:
        return len(self._awaited)

    def flush(self) -> None:
        if len(self._awaited) >= self._max_in_flight or not self._queued:
            return
        batch, self._queued = self._queued, []
        self._send(Many.of(batch))
        # A batch of snapshot saves alone gets no answer, so it holds nothing back.
        last = max((r.seq for r in batch if isinstance(r, AppendRequest)), default=0)
        if last:
            self._awaited.append(last)
