"""ReadIndex bookkeeping on the leader (thesis 6.4).

Theory of operation: a linearizable read needs the leader's commit index at the time the read
arrived, plus proof that the leader was still the leader then: a heartbeat round, sent after the
read arrived, that a majority acknowledges. Reads are queued in arrival order, each with its
index and the set of voters that acknowledged a heartbeat carrying its context. The leader
sends one heartbeat round per batch of reads (carrying the last read's context), so many reads
share one round. When a context gathers a quorum, every read queued up to it is released: all of
them arrived before that round was sent.

Must never: release a read before a heartbeat round that started after it was queued.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from petcd.common.types import Message
from .config import ReadOnlyOption


@dataclass(slots=True)
class ReadIndexStatus:
    request: Message
    index: int
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    __slots__ = ("option", "pending", "queue")

    def __init__(self, option: ReadOnlyOption) -> None:
        self.option = option
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, request: Message) -> None:
        ctx = request.context
        if ctx in self.pending:
            return
        self.pending[ctx] = ReadIndexStatus(request, index)
        self.queue.append(ctx)

    def recv_ack(self, node_id: int, ctx: bytes) -> set[int] | None:
        status = self.pending.get(ctx)
        if status is None:
            return None
        status.acks.add(node_id)
        return status.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release every read queued up to and including ctx."""
        if ctx not in self.pending:
            return []
        n = self.queue.index(ctx) + 1
        released = [self.pending.pop(c) for c in self.queue[:n]]
        del self.queue[:n]
        return released

    def last_pending_request_ctx(self) -> bytes:
        return self.queue[-1] if self.queue else b""

    def reset(self) -> None:
        self.pending.clear()
        self.queue.clear()
