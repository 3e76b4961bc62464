"""Fair admission of proposals to raft: one client's backlog never stands between another
client and the log.

Theory of operation. raft, wal and apply serve proposals in order, so a request waits for every
proposal sent before it: a client that keeps thousands of writes in flight makes everyone's
write as slow as its backlog. An api worker therefore keeps at most `window` proposals of its
clients in flight at once (sent to raft and not yet answered). Past that, a writer waits in its
client's queue, and each proposal that completes lets in the head of the next client's queue,
round-robin: a client that arrives during a flood waits for at most one turn of the clients
ahead of it and for the window in flight, never for the flood's backlog. A client is a
connection (`request_client`, set by each front end); the member's own proposals (lease
expiry, publishing its attributes) have none and are not held.

The window trades a newcomer's wait (about `window` proposals' worth of log) against the
throughput one busy client can reach (Little's law: `window` / the pipeline's latency);
--api-proposal-window sets it.

Must never: lose a slot (every enter is paired with a leave, also when the caller is
cancelled), or let a waiter in twice.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from contextvars import ContextVar
from typing import Hashable

# The connection of the request being served; None for the member's own requests.
request_client: ContextVar[Hashable | None] = ContextVar("petcd_request_client", default=None)


class FairAdmission:
    def __init__(self, window: int) -> None:
        self.window = window
        self.in_flight = 0
        self._queues: OrderedDict[Hashable, deque[asyncio.Future]] = OrderedDict()
        self.waited_total = 0  # proposals that had to wait for their turn

    async def enter(self, client: Hashable | None) -> None:
        """Wait for a slot (none when there is room, or for the member's own proposals)."""
        if client is None:
            self.in_flight += 1
            return
        if self.in_flight < self.window and not self._queues:
            self.in_flight += 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._queues.setdefault(client, deque()).append(fut)
        self.waited_total += 1
        try:
            await fut  # the slot is handed over by leave(): in_flight already counts it
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.leave()  # handed a slot just as the caller gave up: pass it on
            else:
                self._forget(client, fut)
            raise

    def leave(self) -> None:
        """A proposal is answered: its slot goes to the next client in turn."""
        while self._queues:
            client, queue = next(iter(self._queues.items()))
            fut = queue.popleft()
            if queue:
                self._queues.move_to_end(client)  # its next proposal waits a whole turn
            else:
                del self._queues[client]
            if not fut.done():
                fut.set_result(None)
                return
        self.in_flight -= 1

    def _forget(self, client: Hashable, fut: asyncio.Future) -> None:
        queue = self._queues.get(client)
        if queue is None:
            return
        try:
            queue.remove(fut)
        except ValueError:
            return
        if not queue:
            del self._queues[client]

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())
