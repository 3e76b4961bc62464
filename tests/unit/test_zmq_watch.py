"""The ZeroMQ front end's watch streams over a fake ROUTER socket: credit, leases, peers that
leave, has-leader; the hub reads a fake history (test_watch_hub.FakeHistory)."""
import asyncio
import errno

import msgpack
import zmq

from petcd.common.kv import ResponseHeader
from petcd.stages.api import limits
from petcd.stages.api.watch_hub import WatchHub
from petcd.stages.api.watch_stream import WatchStream
from petcd.stages.api.native.watch import ZmqWatchStreams
from tests.unit.test_watch_hub import FakeHistory

PEER = b"peer-1"


class FakeRouter:
    """send_multipart as a ROUTER_MANDATORY socket: records frames; `full` raises EAGAIN,
    `gone` EHOSTUNREACH."""

    def __init__(self):
        self.frames: list[dict] = []
        self.bytes: list[int] = []
        self.full = False
        self.gone = False

    def send_multipart(self, parts, flags=0):
        if self.gone:
            raise zmq.ZMQError(errno.EHOSTUNREACH)
        if self.full:
            raise zmq.Again()
        self.frames.append(msgpack.unpackb(parts[1], raw=False))
        self.bytes.append(len(parts[1]))

    def take(self) -> list[dict]:
        out, self.frames = self.frames, []
        return out


def responses(frames):
    return [r for f in frames for r in f.get("responses", ())]


def run(scenario, window_bytes=1 << 20, keepalive_ms=60_000, buffer_events=100,
        leader=lambda: True, max_watchers=10_000):
    async def main():
        h = FakeHistory()
        loop = asyncio.get_running_loop()
        hub = WatchHub(h, buffer_events=buffer_events, page_events=100,
                       schedule=loop.call_soon)
        registry = set()

        def new_stream(send, require_leader=False, token=""):
            st = WatchStream(hub, lambda rev: ResponseHeader(1, 2, rev, 3), send,
                             fragment_bytes=1 << 20, progress_interval_s=3600,
                             require_leader=require_leader, max_watchers=max_watchers,
                             front_end="zmq")
            registry.add(st)
            st.closed_callback = registry.discard
            return st

        streams = ZmqWatchStreams(new_stream, leader, window_bytes=window_bytes,
                                  keepalive_ms=keepalive_ms, max_streams_per_connection=2)
        streams.start()
        sock = FakeRouter()

        def frame(doc):
            streams.on_frame(sock, PEER, doc, len(msgpack.packb(doc)))

        try:
            await scenario(streams, sock, frame, h, hub, registry)
        finally:
            streams.close()
            await settle()
    asyncio.run(main())


async def settle(turns=10):
    for _ in range(turns):
        await asyncio.sleep(0)


def create(sid, key, **kw):
    return {"stream": sid, "request": {"create_request": {"key": key, **kw}}}


def test_open_create_events_and_close_drop_the_watchers():
    async def sc(streams, sock, frame, h, hub, registry):
        frame({"stream": 1, "open": {"method": "Watch"}})
        frame(create(1, b"a"))
        frame(create(1, b"b"))
        await settle()
        h.txn(("put", b"a", b"1"))
        h.txn(("put", b"b", b"2"))
        hub.on_applied(h.rev)
        await settle()
        frames = sock.take()
        assert frames[0] == {"stream": 1, "opened": {"window_bytes": 1 << 20,
                                                     "keepalive_ms": 60_000}}
        rs = responses(frames)
        assert [(r.get("watch_id", 0), r.get("created", False)) for r in rs[:2]] == \
            [(0, True), (1, True)]
        assert [(r.get("watch_id", 0), r["events"][0]["kv"]["key"]) for r in rs[2:]] == \
            [(0, b"a"), (1, b"b")]
        assert len(hub) == 2
        frame({"stream": 1, "close": True})
        await settle()
        assert sock.take() == [{"stream": 1, "closed": True}]
        assert len(hub) == 0 and len(streams) == 0 and not registry
    run(sc)


def test_no_credit_no_frames_then_acks_deliver_everything_in_order():
    async def sc(streams, sock, frame, h, hub, registry):
        frame({"stream": 1, "open": {"window_bytes": 4096}})
        frame(create(1, b"k"))
        await settle()
        sock.take()
        sent_before = sum(sock.bytes)
        for i in range(300):       # far more than the window, and than the buffer (100)
            h.txn(("put", b"k", b"v" * 100))
            hub.on_applied(h.rev)
            await settle(2)
        got = responses(sock.take())
        unacked = sum(sock.bytes) - sent_before
        assert 0 < unacked < 4096 + 1024 and max(sock.bytes) <= 1024  # window + a frame
        assert hub.slow_watchers_total >= 1   # it stopped being buffered: caught up later
        revs = [e["kv"]["mod_revision"] for r in got for e in r["events"]]
        for _ in range(100):
            frame({"stream": 1, "ack": 1 << 20})
            await settle()
            more = responses(sock.take())
            revs += [e["kv"]["mod_revision"] for r in more for e in r["events"]]
            if len(revs) >= 300:
                break
        assert revs == list(range(2, 302))
    run(sc)


def test_a_full_pipe_delays_frames_but_never_drops_them():
    async def sc(streams, sock, frame, h, hub, registry):
        frame({"stream": 1, "open": {}})
        frame(create(1, b"k"))
        await settle()
        sock.take()
        sock.full = True
        for i in range(3):
            h.txn(("put", b"k", b"%d" % i))
        hub.on_applied(h.rev)
        await asyncio.sleep(0.01)
        sock.full = False
        await asyncio.sleep(0.1)
        revs = [e["kv"]["mod_revision"] for r in responses(sock.take()) for e in r["events"]]
        assert revs == [2, 3, 4]
    run(sc)


def test_a_peer_that_left_loses_its_watchers_at_the_next_send():
    async def sc(streams, sock, frame, h, hub, registry):
        frame({"stream": 1, "open": {}})
        frame(create(1, b"k"))
        await settle()
        sock.gone = True
        h.txn(("put", b"k", b"1"))
        hub.on_applied(h.rev)
        await settle()
        assert len(hub) == 0 and len(streams) == 0 and streams.peers_gone_total == 1
    run(sc)


def test_a_silent_stream_expires_and_pings_keep_one_alive():
    async def sc(streams, sock, frame, h, hub, registry):
        frame({"stream": 1, "open": {}})
        frame(create(1, b"k"))
        frame({"stream": 2, "open": {}})
        frame(create(2, b"k"))
        await settle()
        for _ in range(8):
            frame({"stream": 2, "ping": 1})
            await asyncio.sleep(0.05)
        assert len(streams) == 1 and len(hub) == 1 and streams.expired_total == 1
        ends = [f for f in sock.take() if "error" in f]
        assert [f["stream"] for f in ends] == [1]
        assert ends[0]["error"]["code"] == 14 and "expired" in ends[0]["error"]["message"]
    run(sc, keepalive_ms=200)


def test_stream_limits_unknown_streams_and_has_leader():
    leader = {"ok": False}

    async def sc(streams, sock, frame, h, hub, registry):
        frame({"stream": 1, "open": {"require_leader": True}})
        assert sock.take() == [{"stream": 1, "error": {
            "code": 14, "message": "etcdserver: no leader"}}]
        frame({"stream": 1, "open": {}})
        frame({"stream": 2, "open": {}})
        hits = limits.hits("zmq", "streams")
        frame({"stream": 3, "open": {}})   # a third on one connection: over the limit of 2
        assert sock.take()[-1]["error"] == {"code": 8, "message": "etcdserver: too many requests"}
        assert limits.hits("zmq", "streams") == hits + 1
        frame({"stream": 9, "ping": 1})
        assert sock.take()[0]["error"]["code"] == 14
        frame({"stream": 9, "ack": 10})    # a late ack of an ended stream: no answer
        frame({"stream": 1, "request": {"create_request": {"key": 5}}})
        await settle()
        err = sock.take()[-1]
        assert err["stream"] == 1 and err["error"]["code"] == 3
        assert len(streams) == 1
    run(sc, leader=lambda: leader["ok"])


def test_creates_past_the_watchers_bound_are_canceled_and_the_stream_goes_on():
    async def sc(streams, sock, frame, h, hub, registry):
        hits = limits.hits("zmq", "watchers")
        frame({"stream": 1, "open": {}})
        for key in (b"a", b"b", b"c"):
            frame(create(1, key))
        frame(create(1, b"a", watch_id=1))   # a duplicate id is still etcd's error first
        await settle()
        rs = responses(sock.take())
        assert [(r.get("watch_id", 0), r.get("canceled", False), r.get("cancel_reason"))
                for r in rs] == [(0, False, None), (1, False, None),
                                 (-1, True, "etcdserver: too many requests"),
                                 (-1, True, "mvcc: duplicate watch ID provided on the "
                                            "WatchStream")]
        assert all(r["created"] for r in rs)
        assert len(hub) == 2 and limits.hits("zmq", "watchers") == hits + 1
        frame({"stream": 1, "request": {"cancel_request": {"watch_id": 0}}})
        frame(create(1, b"c"))                # room again: the auto id skips the one in use
        await settle()
        assert [r.get("watch_id", 0) for r in responses(sock.take())] == [0, 2]
        assert len(hub) == 2
    run(sc, max_watchers=2)


def test_a_stream_sent_creates_and_never_read_is_ended():
    # Created responses count against the window like events: once it is full and the
    # requests behind it exceed a window too, the stream ends, and its watchers with it.
    async def sc(streams, sock, frame, h, hub, registry):
        frame({"stream": 1, "open": {"window_bytes": 4096}})
        for i in range(3000):
            frame(create(1, b"k%d" % i))
            await asyncio.sleep(0)
        await settle()
        sent = sum(n for f, n in zip(sock.frames, sock.bytes) if "responses" in f)
        assert sent < 4096 + 1024  # the window and a frame
        errors = [f["error"] for f in sock.take() if "error" in f]
        assert errors[0] == {"code": 8, "message": "etcdserver: too many requests"}
        assert {e["code"] for e in errors[1:]} == {14}  # later frames: no such stream
        assert len(streams) == 0 and len(hub) == 0 and not registry
    run(sc, max_watchers=100)
