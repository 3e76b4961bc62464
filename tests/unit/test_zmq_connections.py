"""The ZeroMQ front end's bounds per connection (native/connections.py) over a fake ROUTER
socket: calls in flight, answers queued in bytes while the client does not read, the cut-off
and its end, a client that left."""
import asyncio
import errno

import msgpack
import zmq

from petcd.stages.api import limits
from petcd.stages.api.native import codec as native
from petcd.stages.api.native.connections import (CUT_OFF_NOTICE, ENTRY_OVERHEAD_BYTES,
                                                 Connections, too_many_requests)

A, B = b"client-a", b"client-b"


class FakeRouter:
    """send() as a ROUTER_MANDATORY socket takes a routing id then a payload: `full` (a set of
    ids) refuses with EAGAIN, `gone` with EHOSTUNREACH."""

    def __init__(self):
        self.sent: list[tuple[bytes, bytes]] = []
        self.full: set[bytes] = set()
        self.gone: set[bytes] = set()
        self.closed = False
        self._to = None

    def send(self, data, flags=0):
        if flags & zmq.SNDMORE:
            if data in self.gone:
                raise zmq.ZMQError(errno.EHOSTUNREACH)
            if data in self.full:
                raise zmq.Again()
            self._to = data
        else:
            self.sent.append((self._to, data))

    def take(self, ident):
        out = [d for i, d in self.sent if i == ident]
        self.sent = [(i, d) for i, d in self.sent if i != ident]
        return out


def answer(rid: int, size: int = 0) -> bytes:
    return msgpack.packb({"id": rid, "response": {"v": b"x" * size}})


def ids(frames):
    return [msgpack.unpackb(f)["id"] for f in frames]


def run(scenario, **kw):
    async def main():
        sock = FakeRouter()
        conns = Connections(sock, **{"max_requests": 4, "max_queued_bytes": 10_000, **kw})
        try:
            await scenario(sock, conns)
        finally:
            conns.close()
    asyncio.run(main())


def test_calls_in_flight_are_bounded_per_connection():
    async def scenario(sock, conns):
        hits = limits.hits("zmq", "requests")
        assert [conns.admit(A) for _ in range(4)] == [None] * 4
        assert conns.admit(A) == too_many_requests()
        assert conns.admit(B) is None  # another connection has its own
        assert limits.hits("zmq", "requests") == hits + 1
        conns.done(A, answer(1))
        conns.flush()
        assert conns.admit(A) is None
        assert ids(sock.take(A)) == [1]
    run(scenario)


def test_answers_a_full_pipe_refuses_wait_in_order_and_leave_when_it_has_room():
    async def scenario(sock, conns):
        for rid in (1, 2, 3):
            conns.admit(A)
        sock.full.add(A)
        for rid in (1, 2, 3):
            conns.done(A, answer(rid, 100))
        conns.flush()
        assert sock.sent == [] and conns.queued_bytes() == 3 * (len(answer(1, 100))
                                                                 + ENTRY_OVERHEAD_BYTES)
        conns.retry_blocked()
        assert sock.sent == []
        sock.full.clear()
        conns.retry_blocked()
        assert ids(sock.take(A)) == [1, 2, 3]
        assert conns.queued_bytes() == 0 and len(conns) == 0  # nothing owed: forgotten
    run(scenario)


def test_the_retry_timer_sends_without_a_wake_up():
    async def scenario(sock, conns):
        conns.admit(A)
        sock.full.add(A)
        conns.done(A, answer(1))
        conns.flush()
        await asyncio.sleep(0.01)
        sock.full.clear()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if sock.sent:
                break
        assert ids(sock.take(A)) == [1]
    run(scenario)


def test_past_its_bound_a_connection_is_cut_off_until_its_queue_drained():
    async def scenario(sock, conns):
        hits = limits.hits("zmq", "queued_bytes")
        for _ in range(4):
            assert conns.admit(A) is None
        conns.admit(B)
        sock.full.add(A)
        conns.done(A, answer(1, 4000))
        conns.done(A, answer(2, 4000))
        conns.done(A, answer(3, 4000))  # past 10,000 bytes
        conns.done(B, answer(9))
        conns.flush()
        assert conns.cut_offs_total == 1 and limits.hits("zmq", "queued_bytes") == hits + 1
        assert ids(sock.take(B)) == [9]  # the others are served as before
        # cut off: new calls are refused, not run; the refusals queue behind the notice;
        # the answer of a call that was running is dropped
        assert conns.admit(A) == too_many_requests()
        conns.refuse(A, native.encode_error(5, too_many_requests()))
        conns.done(A, answer(4, 10))
        conns.flush()
        assert limits.hits("zmq", "queued_bytes") == hits + 2
        sock.full.clear()
        conns.retry_blocked()
        frames = sock.take(A)
        assert frames[0] == CUT_OFF_NOTICE
        assert [msgpack.unpackb(f)["error"]["message"] for f in frames] == \
            ["etcdserver: too many requests"] * 2
        assert ids(frames) == [0, 5]
        # drained: calls are admitted again
        assert conns.admit(A) is None
        conns.done(A, answer(6))
        conns.flush()
        assert ids(sock.take(A)) == [6]
    run(scenario)


def test_refusals_while_cut_off_stay_within_the_bound():
    async def scenario(sock, conns):
        conns.admit(A)
        sock.full.add(A)
        conns.done(A, answer(1, 20_000))
        conns.flush()
        for rid in range(2, 1000):
            assert conns.admit(A) is not None
            conns.refuse(A, native.encode_error(rid, too_many_requests()))
        conns.flush()
        assert conns.queued_bytes() <= 10_000
    run(scenario)


def test_a_client_that_left_is_owed_nothing():
    async def scenario(sock, conns):
        conns.admit(A)
        conns.admit(A)
        sock.full.add(A)
        conns.done(A, answer(1))
        conns.flush()
        sock.gone.add(A)
        conns.retry_blocked()
        assert conns.queued_bytes() == 0 and len(conns) == 1  # one call still running
        conns.done(A, answer(2))
        conns.flush()
        assert len(conns) == 0 and sock.sent == []
    run(scenario)
