"""What the ZeroMQ front end holds for each client connection: its calls in flight and the
answers it has not taken yet, both bounded.

Theory of operation. A connection is a routing id of one ROUTER socket. Its unary calls run as
tasks, each in flight from its frame's arrival to its answer; `admit` refuses a call past
--zmq-max-requests-per-connection at once, so one connection never holds more tasks (and
requests) than that in the member.

Answers leave through ZeroMQ's pipe to the peer, which takes ANSWER_HWM messages (ZMQ_SNDHWM,
shared with the watch streams' frames, which have credit of their own). An answer the pipe
refuses (EAGAIN: the client is not reading) waits in the connection's queue, in order, and
leaves once the pipe has room: the front end calls `retry_blocked` when the socket wakes it
(ZeroMQ signals the socket's FD when a peer's pipe drains), and a timer with back-off tries
meanwhile. The queue is counted in bytes, each answer with the Python object that holds it.
Past --zmq-max-queued-bytes-per-connection the connection is cut off, as a watch stream past
its bound is ended: its queued answers are dropped and one notice, an answer with id 0 and
etcd's "too many requests", waits in their place. Until its queue has drained (the notice was
taken), the connection's new calls are refused without being run, their refusals queue behind
the notice (within the same bound; past it they are dropped too), and the answers of calls
that were already running are dropped: the client learns their outcome as after a timeout,
by reading, where "too many requests" would claim they never happened.

The most one connection makes the member hold: max_queued_bytes here, ANSWER_HWM answers in
ZeroMQ's pipe (each as large as an answer may be: a range can be large), the kernel's socket
buffers, and what max_requests calls hold while they run; besides, the answers of one loop
turn wait for its end (to leave back to back) up to FLUSH_BYTES, for all connections.

etcd has no such bounds (its gRPC server stops on HTTP/2 flow control); the nearest of its
errors is "etcdserver: too many requests" (ResourceExhausted: back off, then retry), used for
both, and each refusal is counted (limits.py: requests, queued_bytes).

Must never: queue past the bound, block the loop, reorder one connection's answers, or send
an answer twice.
"""
from __future__ import annotations

import asyncio
import errno
from collections import deque
from typing import Callable

import zmq

from petcd.common.errors import ErrTooManyRequests, EtcdError
from .. import limits
from . import codec as native

# Plain ints: pyzmq's flag enums cost a Python call per use.
_NOBLOCK, _SNDMORE = int(zmq.NOBLOCK), int(zmq.SNDMORE)

ANSWER_HWM = 16  # messages ZeroMQ queues per peer: what it holds for a client that stopped
ENTRY_OVERHEAD_BYTES = 64  # a queued answer's bytes object and deque slot, beyond its length
RETRY_MIN_S, RETRY_MAX_S = 0.001, 0.05
# Answers wait for the end of the loop's turn (to leave back to back) only up to this many
# bytes: a turn that completes many large answers must not hold them all before it counts them.
FLUSH_BYTES = 1 << 20
_SENT, _FULL, _GONE = range(3)


def too_many_requests() -> EtcdError:
    return EtcdError(ErrTooManyRequests.code, ErrTooManyRequests.message)


CUT_OFF_NOTICE = native.encode_error(0, too_many_requests())


def _cost(out: bytes) -> int:
    return len(out) + ENTRY_OVERHEAD_BYTES


class _Conn:
    __slots__ = ("in_flight", "queue", "queued_bytes", "cut_off", "retry", "delay_s")

    def __init__(self) -> None:
        self.in_flight = 0
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.cut_off = False
        self.retry: asyncio.TimerHandle | None = None
        self.delay_s = RETRY_MIN_S


class Connections:
    """The connections of one ROUTER socket (ROUTER_MANDATORY)."""

    def __init__(self, sock, *, max_requests: int, max_queued_bytes: int,
                 after_send: Callable[[], None] = lambda: None) -> None:
        """after_send(): the front end looks at the socket again (a send may consume the
        edge of its FD)."""
        self.sock = sock
        self.max_requests = max_requests
        self.max_queued_bytes = max_queued_bytes
        self.after_send = after_send
        self._conns: dict[bytes, _Conn] = {}
        self._blocked: set[bytes] = set()  # connections with answers queued
        self._pending: list[tuple[bytes, bytes, bool]] = []  # this turn's answers
        self._pending_bytes = 0
        self._flush_bytes = min(FLUSH_BYTES, max_queued_bytes)
        self.cut_offs_total = 0

    def __len__(self) -> int:
        return len(self._conns)

    def queued_bytes(self) -> int:
        return sum(self._conns[i].queued_bytes for i in self._blocked)

    # -- calls ----------------------------------------------------------------------------------

    def admit(self, ident: bytes) -> EtcdError | None:
        """Count a call in flight, or why it is refused (counted as a limit hit)."""
        c = self._conns.get(ident)
        if c is None:
            c = self._conns[ident] = _Conn()
        if c.cut_off:
            limits.hit("zmq", "queued_bytes")
            return too_many_requests()
        if c.in_flight >= self.max_requests:
            limits.hit("zmq", "requests")
            return too_many_requests()
        c.in_flight += 1
        return None

    def done(self, ident: bytes, out: bytes) -> None:
        """The answer of an admitted call; it leaves at `flush`."""
        c = self._conns.get(ident)
        if c is not None:  # None: closed meanwhile
            c.in_flight -= 1
            self._hold(ident, out, True)

    def refuse(self, ident: bytes, out: bytes) -> None:
        """The answer of a call that was not admitted; it leaves at `flush`."""
        self._hold(ident, out, False)

    def _hold(self, ident: bytes, out: bytes, admitted: bool) -> None:
        self._pending.append((ident, out, admitted))
        self._pending_bytes += len(out)
        if self._pending_bytes >= self._flush_bytes:
            self.flush()

    # -- answers --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send this turn's answers, back to back (the socket's I/O thread wakes once)."""
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        for ident, out, admitted in pending:
            c = self._conns.get(ident)
            if c is None:
                c = self._conns[ident] = _Conn()
            if c.cut_off and admitted:
                self._forget_if_idle(ident, c)  # dropped: see the theory of operation
                continue
            self._put(ident, c, out)

    def retry_blocked(self) -> None:
        for ident in list(self._blocked):
            c = self._conns.get(ident)
            if c is not None:
                self._drain(ident, c)

    def _send(self, ident: bytes, out: bytes) -> int:
        try:
            self.sock.send(ident, _NOBLOCK | _SNDMORE)
        except zmq.Again:
            return _FULL
        except zmq.ZMQError as e:
            if e.errno == errno.EHOSTUNREACH:
                return _GONE
            raise
        self.sock.send(out, _NOBLOCK)  # accepted with the first frame (atomic messages)
        return _SENT

    def _put(self, ident: bytes, c: _Conn, out: bytes) -> None:
        if not c.queue:
            sent = self._send(ident, out)
            if sent == _SENT:
                return self._forget_if_idle(ident, c)
            if sent == _GONE:
                return self._gone(ident, c)
        cost = _cost(out)
        if c.queued_bytes + cost > self.max_queued_bytes:
            if not c.cut_off:
                self._cut_off(ident, c)
            return  # dropped: the notice already waits in the queue
        c.queue.append(out)
        c.queued_bytes += cost
        self._arm(ident, c)

    def _cut_off(self, ident: bytes, c: _Conn) -> None:
        limits.hit("zmq", "queued_bytes")
        self.cut_offs_total += 1
        c.cut_off = True
        c.queue.clear()
        c.queue.append(CUT_OFF_NOTICE)
        c.queued_bytes = _cost(CUT_OFF_NOTICE)
        self._arm(ident, c)

    def _drain(self, ident: bytes, c: _Conn) -> None:
        q = c.queue
        sent_any = False
        while q:
            sent = self._send(ident, q[0])
            if sent == _FULL:
                self._arm(ident, c)
                break
            if sent == _GONE:
                self._gone(ident, c)
                break
            sent_any = True
            c.queued_bytes -= _cost(q.popleft())
        else:
            c.cut_off = False
            c.delay_s = RETRY_MIN_S
            self._blocked.discard(ident)
            self._forget_if_idle(ident, c)
        if sent_any:
            self.after_send()

    def _arm(self, ident: bytes, c: _Conn) -> None:
        self._blocked.add(ident)
        if c.retry is None:
            c.retry = asyncio.get_running_loop().call_later(c.delay_s, self._retry, ident)
            c.delay_s = min(2 * c.delay_s, RETRY_MAX_S)

    def _retry(self, ident: bytes) -> None:
        c = self._conns.get(ident)
        if c is not None:
            c.retry = None
            if c.queue and not self.sock.closed:
                self._drain(ident, c)

    def _gone(self, ident: bytes, c: _Conn) -> None:
        """The client left: nothing it is owed can reach it."""
        c.queue.clear()
        c.queued_bytes = 0
        c.cut_off = False
        self._blocked.discard(ident)
        self._forget_if_idle(ident, c)

    def _forget_if_idle(self, ident: bytes, c: _Conn) -> None:
        # Routing ids are the clients' (or random per connection): keep none that owes nothing.
        if c.in_flight == 0 and not c.queue:
            if c.retry is not None:
                c.retry.cancel()
            del self._conns[ident]

    def close(self) -> None:
        for c in self._conns.values():
            if c.retry is not None:
                c.retry.cancel()
        self._conns.clear()
        self._blocked.clear()
