"""What the raft stage sends to wal: at most one batch of appends in flight.

Theory of operation: while wal is busy with a batch (writing it, then one fdatasync), the
appends that raft produces meanwhile wait here and leave together as one frame once wal has
answered the batch before. wal would have drained and synced them together anyway (group
commit); sending them as one frame spares both stages a wakeup and a decode per Ready, and
matches etcd, whose raft hands out the next Ready only after the last one was saved.
Snapshot saves (SaveSnapshot) queue in the same line, so wal sees everything in raft's order.

Must never: reorder what raft queued, or hold a batch once wal has answered the one before.
"""
from __future__ import annotations

from typing import Callable

from petcd.common.pipeline import AppendRequest, Many


class AppendQueue:
    def __init__(self, send: Callable[[object], None]) -> None:
        self._send = send
        self._queued: list = []
        self._awaited_seq = 0  # the last AppendRequest seq of the batch in flight; 0: none

    def push(self, request: object) -> None:
        self._queued.append(request)

    def done(self, seq: int) -> None:
        """wal answered AppendRequest `seq` (answers arrive in seq order)."""
        if seq >= self._awaited_seq:
            self._awaited_seq = 0

    @property
    def in_flight(self) -> bool:
        return self._awaited_seq != 0

    def flush(self) -> None:
        if self._awaited_seq or not self._queued:
            return
        batch, self._queued = self._queued, []
        self._send(Many(tuple(batch)) if len(batch) > 1 else batch[0])
        # A batch of snapshot saves alone gets no answer, so it holds nothing back.
        self._awaited_seq = max((r.seq for r in batch if isinstance(r, AppendRequest)),
                                default=0)
