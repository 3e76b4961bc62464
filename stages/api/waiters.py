"""Futures the api stage waits on: results by request id, applied index, read-index rounds.

Theory of operation: everything here runs on the worker's asyncio loop, single-threaded.
`Results` maps a request id to the future of its ApplyResult. `AppliedIndex` resolves waiters
once the applied index published by apply reaches theirs. `ReadIndexer` gathers every
linearizable read that arrives within one loop iteration into one ReadIndex round (one context,
one heartbeat round on the leader): a read joins only a round sent after it arrived, which is
what linearizability needs (thesis 6.4).
"""
from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
from typing import Callable

from petcd.common.pipeline import ApplyResult, ReadIndexRequest

SWEEP_MIN_INTERVAL_S = 0.01


class RequestExpired(Exception):
    """The request's deadline passed before its result came."""


class Results:
    """Every request's first registration carries its deadline; once that passes, its waiter
    fails with RequestExpired. Deadlines are the start plus one request timeout, so the order
    of registration is the order of deadlines, and one timer on the earliest serves them all:
    far cheaper than a timer per request, which a busy member would mostly cancel."""

    def __init__(self) -> None:
        self._waiting: dict[int, asyncio.Future] = {}
        self._deadlines: collections.deque[tuple[float, int]] = collections.deque()
        self._sweep_handle: asyncio.TimerHandle | None = None

    def register(self, request_id: int, deadline: float | None) -> asyncio.Future:
        """deadline: on the loop's clock; None when re-registering after a retry (the first
        registration's deadline still holds, and must not have passed)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiting[request_id] = fut
        if deadline is not None:
            self._deadlines.append((deadline, request_id))
            if self._sweep_handle is None:
                self._sweep_handle = loop.call_at(deadline, self._sweep)
        return fut

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            fut = self._waiting.pop(deadlines.popleft()[1], None)
            if fut is not None and not fut.done():
                fut.set_exception(RequestExpired())
        # Most heads are long answered; waking at most every SWEEP_MIN_INTERVAL_S keeps a
        # busy member from waking for each.
        self._sweep_handle = (loop.call_at(max(deadlines[0][0], now + SWEEP_MIN_INTERVAL_S),
                                           self._sweep) if deadlines else None)

    def resolve(self, result: ApplyResult) -> None:
        fut = self._waiting.pop(result.request_id, None)
        if fut is not None and not fut.done():
            fut.set_result(result)

    def fail(self, request_id: int, error: Exception) -> None:
        fut = self._waiting.pop(request_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(error)

    def __len__(self) -> int:
        return len(self._waiting)


class AppliedIndex:
    def __init__(self) -> None:
        self.index = 0
        self.revision = 0
        self._heap: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def advance(self, index: int, revision: int) -> None:
        if index > self.index:
            self.index = index
        if revision > self.revision:
            self.revision = revision
        heap = self._heap
        while heap and heap[0][0] <= self.index:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(None)

    async def wait_for(self, index: int) -> None:
        if index <= self.index:
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (index, next(self._seq), fut))
        await fut


class ReadIndexer:
    """Rounds that get no answer within `retry_s` (no leader yet, a lost message, a leader
    change) are asked again with a new context, until the caller's own deadline."""

    def __init__(self, worker: int, send: Callable[[ReadIndexRequest], None],
                 retry_s: float = 0.5) -> None:
        self._worker = worker
        self._send = send
        self._retry_s = retry_s
        self._next: list[asyncio.Future] = []
        self._rounds: dict[bytes, list[asyncio.Future]] = {}
        self._ctx = itertools.count(1)
        self._flush_scheduled = False

    def read_index(self) -> asyncio.Future:
        """A future of the read index for a read that starts now."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._next.append(fut)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._flush_scheduled = False
        waiters, self._next = self._next, []
        waiters = [w for w in waiters if not w.done()]
        if not waiters:
            return
        ctx = b"%d:%d" % (self._worker, next(self._ctx))
        self._rounds[ctx] = waiters
        asyncio.get_running_loop().call_later(self._retry_s, self._retry, ctx)
        self._send(ReadIndexRequest(self._worker, ctx))

    def _retry(self, ctx: bytes) -> None:
        waiters = self._rounds.pop(ctx, None)
        if not waiters:
            return
        self._next.extend(w for w in waiters if not w.done())
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def resolve(self, ctx: bytes, index: int) -> None:
        for fut in self._rounds.pop(ctx, ()):
            if not fut.done():
                fut.set_result(index)
