"""Hostile and noisy clients of the native ZeroMQ listener on a real member: deep nesting gets
etcd's error (no traceback), calls in flight and unread answers are bounded per connection,
a watch stream that never reads is ended, the watchers bound holds on every front end, and a
flooding client does not stall the others."""
import json
import time

import msgpack
import pytest
import zmq

from petcd.client import Client
from petcd.common.kv import WatchCreateRequest, WatchRequest
from tests.conformance.grpc_watch_client import GWatchConn
from tests.conformance.watch_client import WatchConn
from tests.conformance.zmq_watch_client import ZWatchConn
from .test_watch import b64, metric, put, wait_metric

pytestmark = pytest.mark.integration

TOO_MANY_OPS = {"code": 3, "message": "etcdserver: too many operations in txn request"}
TOO_MANY_REQUESTS = {"code": 8, "message": "etcdserver: too many requests"}


def hits(m, limit: str, front_end: str = "zmq") -> int:
    """The count of refusals (a counter shows once it counts one)."""
    try:
        return metric(m, f'petcd_client_limit_hits_total{{front_end="{front_end}",'
                         f'limit="{limit}"}}')
    except AssertionError:
        return 0


def dealer(m, opts: dict | None = None) -> zmq.Socket:
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    for k, v in (opts or {}).items():
        s.setsockopt(k, v)
    s.connect(f"tcp://127.0.0.1:{m.zmq_port}")
    return s


def call(sock, rid: int, method: str, request: dict) -> None:
    sock.send(msgpack.packb({"id": rid, "method": method, "request": request}))


def answer(sock, timeout_s: float = 10.0) -> dict:
    assert sock.poll(int(timeout_s * 1000)), "no answer in time"
    return msgpack.unpackb(sock.recv(), raw=False, strict_map_key=False)


def nested_txn(levels: int, put_in_it: bool = True) -> dict:
    doc = {"success": [{"request_put": {"key": b"deep", "value": b"v"}}] if put_in_it else []}
    for _ in range(levels - 1):
        doc = {"success": [{"request_txn": doc}]}
    return doc


def test_deep_nesting_gets_etcds_error_and_no_traceback(start_member):
    # --max-txn-ops 1000: txns pass up to the 200 levels the stages carry
    m = start_member(name="deep", extra_args=("--max-txn-ops", "1000"))
    s = dealer(m)
    try:
        call(s, 1, "Txn", nested_txn(200))  # the deepest that passes: through every stage
        got = answer(s)
        assert got["id"] == 1 and "error" not in got, got
        assert put(m, "after") > 0
        call(s, 2, "Txn", nested_txn(201, put_in_it=False))  # decoded, refused by validation
        assert answer(s) == {"id": 2, "error": TOO_MANY_OPS}
        assert hits(m, "txn_depth") == 0  # etcd's own refusal, not a bound of the listener
        for rid, levels in ((3, 201), (4, 300)):  # refused while decoded
            call(s, rid, "Txn", nested_txn(levels))
            assert answer(s) == {"id": rid, "error": TOO_MANY_OPS}
        s.send(b"\x81\xa1a" * 100_000 + b"\xc0")  # past msgpack's own 1024 levels
        assert answer(s) == {"id": 0, "error": TOO_MANY_OPS}
        assert hits(m, "txn_depth") == 3
        assert "Traceback" not in m.log_path.read_text()
    finally:
        s.close(0)


def test_calls_past_the_in_flight_bound_are_refused_at_once(start_member):
    m = start_member(name="inflight", extra_args=("--zmq-max-requests-per-connection", "8"))
    s = dealer(m)
    try:
        n = 200
        for rid in range(1, n + 1):
            call(s, rid, "Put", {"key": b"k%d" % rid, "value": b"v"})
        answers = [answer(s) for _ in range(n)]
        assert sorted(a["id"] for a in answers) == list(range(1, n + 1))  # each once
        refused = [a for a in answers if "error" in a]
        assert refused and all(a["error"] == TOO_MANY_REQUESTS for a in refused)
        assert len(refused) <= n - 8
        assert hits(m, "requests") == len(refused)
    finally:
        s.close(0)


def rss(m) -> int:
    return metric(m, "process_resident_memory_bytes")


def test_a_client_that_does_not_read_is_cut_off_and_the_member_stays_small(start_member):
    bound = 4 << 20
    m = start_member(name="unread", extra_args=(
        "--zmq-max-queued-bytes-per-connection", str(bound)))
    value_bytes = 256 * 1024
    with Client(f"tcp://127.0.0.1:{m.zmq_port}") as c:
        c.put("big", b"x" * value_bytes)
    # A client that takes nothing: its own ZeroMQ and kernel buffers hold next to nothing.
    s = dealer(m, {zmq.RCVHWM: 1, zmq.RCVBUF: 65536})
    try:
        base = rss(m)
        calls = 1200
        for rid in range(1, calls + 1):
            call(s, rid, "Range", {"key": b"big", "serializable": True})
        deadline = time.monotonic() + 20
        while hits(m, "queued_bytes") < calls // 2:  # cut off: the later calls are refused
            assert time.monotonic() < deadline, hits(m, "queued_bytes")
            time.sleep(0.05)
        grown = rss(m) - base
        # the bound, ZeroMQ's 16 answers and the answers of a turn (1 MiB), with margin;
        # all 1,200 answers would be 300 MiB
        assert grown < bound + 16 * value_bytes + (24 << 20), grown / 2**20
        # Reading again: what ZeroMQ held, the notice, the refusals; then calls are served.
        got = []
        while s.poll(500):
            got.append(msgpack.unpackb(s.recv(), raw=False))
        notice = next(i for i, a in enumerate(got) if a["id"] == 0)
        assert got[notice]["error"] == TOO_MANY_REQUESTS
        assert all(a["error"] == TOO_MANY_REQUESTS for a in got[notice + 1:])
        call(s, calls + 1, "Range", {"key": b"none"})
        assert "error" not in answer(s)
    finally:
        s.close(0)


def test_a_watch_stream_sent_creates_and_never_read_is_ended(start_member):
    m = start_member(name="unreadw", extra_args=(
        "--zmq-stream-window-bytes", "4096", "--max-watchers-per-stream", "50"))
    w = ZWatchConn(m.zmq_port, auto_ack=False)
    try:
        w.open(1)
        for i in range(3000):
            w.create(1, b"k%d" % i)
        assert w.frame(1) == {"stream": 1, "error": TOO_MANY_REQUESTS}
        wait_metric(m, "petcd_zmq_watch_streams", 0)
        wait_metric(m, "etcd_debugging_mvcc_watcher_total", 0)
        assert hits(m, "watchers") > 0  # never more than 50 watchers meanwhile
    finally:
        w.close()


def test_the_watchers_bound_holds_on_every_front_end(start_member):
    m = start_member(name="watchers", extra_args=("--max-watchers-per-stream", "2"))
    refused = {"cancel_reason": "etcdserver: too many requests", "created": True,
               "canceled": True, "watch_id": -1}
    z = ZWatchConn(m.zmq_port)
    h = WatchConn(m.client_port)
    g = GWatchConn(m.client_port)
    try:
        z.open(1)
        for key in (b"a", b"b", b"c"):
            z.create(1, key)
        rs = [z.read(1) for _ in range(3)]
        assert [r.get("watch_id", 0) for r in rs[:2]] == [0, 1]
        assert {k: rs[2][k] for k in refused} == refused
        h.send("".join(json.dumps({"create_request": {"key": b64(k)}}) for k in "abc"))
        rs = [h.read_line()["result"] for _ in range(3)]
        assert [r.get("watch_id", "0") for r in rs[:2]] == ["0", "1"]
        assert (rs[2]["cancel_reason"], rs[2]["canceled"], rs[2]["watch_id"]) == \
            (refused["cancel_reason"], True, "-1")
        for key in (b"a", b"b", b"c"):
            g.send(WatchRequest(create_request=WatchCreateRequest(key=key)))
        rs = [g.read() for _ in range(3)]
        assert [r.watch_id for r in rs[:2]] == [0, 1]
        assert (rs[2].cancel_reason, rs[2].canceled, rs[2].watch_id) == \
            (refused["cancel_reason"], True, -1)
        assert metric(m, "etcd_debugging_mvcc_watcher_total") == 6
        assert [hits(m, "watchers", f) for f in ("zmq", "http", "grpc")] == [1, 1, 1]
    finally:
        for c in (z, h, g):
            c.close()


def revision(m) -> int:
    return int(m.post("/v3/kv/range", {"key": b64("none"), "serializable": True})[1]
               ["header"]["revision"])


def test_an_http_put_completes_while_a_native_client_floods(start_member):
    m = start_member(name="flood")
    flood = dealer(m, {zmq.SNDHWM: 0})
    calls = 10_000  # bench/fairness.py floods 100,000 and times the puts
    frames = [msgpack.packb({"id": i, "method": "Put", "request": {"key": b"f", "value": b"v"}})
              for i in range(1, calls + 1)]
    try:
        base = revision(m)
        for f in frames:  # never read: its answers queue in the member
            flood.send(f)
        while revision(m) < base + 100:  # the flood is being served
            time.sleep(0.01)
        http_rev = put(m, "http-put")  # HTTP, from another client
        with Client(f"tcp://127.0.0.1:{m.zmq_port}") as c:  # and native, its own connection
            native_rev = c.put("native-put", "v").header.revision
        # Both were served between the flood's puts, not after them: the flood's go on.
        last, now = 0, revision(m)
        while now != last:  # until the flood is over
            time.sleep(0.2)
            last, now = now, revision(m)
        assert max(http_rev, native_rev) < now - 100, (http_rev, native_rev, now)
        assert hits(m, "requests") > 0  # the flood ran into its bound of calls in flight
    finally:
        flood.close(0)
