"""Watch over the native ZeroMQ protocol on a real member: streams and watches multiplexed on
one connection, etcd's watch semantics, credit for slow readers, watchers dropped when a client
closes, leaves or goes silent, the client's iterator across a member restart, and petcdctl."""
import asyncio
import subprocess
import sys
import threading
import time

import pytest

from petcd.client import AsyncClient, Client
from tests.conformance.zmq_watch_client import ZWatchConn
from .member import Member
from .test_watch import metric, wait_metric

pytestmark = pytest.mark.integration

KEEPALIVE_MS = 1500
ARGS = ("--zmq-stream-keepalive-ms", str(KEEPALIVE_MS), "--watch-buffer-events", "16",
        "--max-request-bytes", "65536")


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    m = Member(tmp_path_factory.mktemp("zwatch"), "zw", ARGS).start()
    yield m
    m.stop()


@pytest.fixture
def client(member):
    with Client(f"tcp://127.0.0.1:{member.zmq_port}") as c:
        yield c


@pytest.fixture
def conn(member):
    # Streams of earlier tests whose sockets were closed are gone by now (lease or peer gone).
    wait_metric(member, "petcd_zmq_watch_streams", 0)
    c = ZWatchConn(member.zmq_port)
    yield c
    c.close()


def events(r) -> list[tuple]:
    return [(e.get("type", 0), e["kv"]["key"], e["kv"].get("value", b""),
             e["kv"]["mod_revision"]) for e in r.get("events", ())]


def test_create_cancel_progress_and_ids(conn, client):
    opened = conn.open(1)
    assert opened == {"stream": 1, "opened": {"window_bytes": 1 << 20,
                                              "keepalive_ms": KEEPALIVE_MS}}
    rev = client.put("pre", "x").header.revision
    conn.create(1, b"k1")
    conn.create(1, b"k1", watch_id=7)
    conn.request(1, {"progress_request": {}})
    conn.create(1, b"k1", watch_id=7)
    conn.create(1, b"b", range_end=b"a")
    r = [conn.read(1) for _ in range(5)]
    assert r[0]["created"] and "watch_id" not in r[0] and r[0]["header"]["revision"] == rev
    assert (r[1]["watch_id"], r[1]["created"]) == (7, True)
    assert r[2]["watch_id"] == -1 and "created" not in r[2] and r[2]["header"]["revision"] == rev
    assert (r[3]["watch_id"], r[3]["created"], r[3]["canceled"], r[3]["cancel_reason"]) == \
        (-1, True, True, "mvcc: duplicate watch ID provided on the WatchStream")
    assert r[4]["cancel_reason"] == "mvcc: watcher range is empty"
    rev = client.put("k1", "a").header.revision
    got = sorted((x.get("watch_id", 0), events(x)[0][3]) for x in (conn.read(1), conn.read(1)))
    assert got == [(0, rev), (7, rev)]
    conn.request(1, {"cancel_request": {"watch_id": 7}})
    assert (r := conn.read(1))["watch_id"] == 7 and r["canceled"]
    conn.request(1, {"cancel_request": {"watch_id": 99}})   # unknown: no answer at all
    conn.request(1, {"progress_request": {}})
    assert conn.read(1)["watch_id"] == -1
    rev = client.put("k1", "b").header.revision
    r = conn.read(1)
    assert "watch_id" not in r and events(r) == [(0, b"k1", b"b", rev)]
    assert conn.quiet(1, 0.3)


def test_many_streams_and_watches_on_one_connection_each_event_once(conn, client):
    n_streams, per = 4, 50
    for sid in range(1, n_streams + 1):
        conn.open(sid)
        for i in range(per):
            conn.create(sid, b"m%d-%02d" % (sid, i))
        conn.create(sid, b"m%d-" % sid, range_end=b"m%d." % sid)
    for sid in range(1, n_streams + 1):
        ids = [conn.read(sid).get("watch_id", 0) for _ in range(per + 1)]
        assert ids == list(range(per + 1))
    writes = {}
    for j in range(0, per, 7):
        for sid in range(1, n_streams + 1):
            key = b"m%d-%02d" % (sid, j)
            writes[client.put(key, "v").header.revision] = (sid, j)
    for sid in range(1, n_streams + 1):
        mine = sorted(rev for rev, (s, _) in writes.items() if s == sid)
        seen: dict[int, list[int]] = {}
        for _ in range(2 * len(mine)):  # the key's watcher and the stream's range watcher
            r = conn.read(sid)
            seen.setdefault(r.get("watch_id", 0), []).extend(e[3] for e in events(r))
        assert seen.pop(per) == mine
        assert seen == {writes[rev][1]: [rev] for rev in mine}
        assert conn.quiet(sid, 0.05)


def test_history_replay_and_compacted_start(conn, client):
    revs = [client.put("h", str(i)).header.revision for i in range(5)]
    now = client.put("other", "x").header.revision
    conn.open(1)
    conn.create(1, b"h", start_revision=revs[1])
    created, history = conn.read(1), conn.read(1)
    assert created["created"] and created["header"]["revision"] == now
    assert [e[3] for e in events(history)] == revs[1:]
    assert history["header"]["revision"] == now
    client.compact(revs[3], physical=True)
    conn.create(1, b"h", start_revision=revs[1])
    created, canceled = conn.read(1), conn.read(1)
    assert created["created"] and created["watch_id"] == 1
    assert (canceled["watch_id"], canceled["canceled"], canceled["compact_revision"]) == \
        (1, True, revs[3])
    assert "revision" not in canceled["header"]  # etcd's header without revision
    conn.create(1, b"h", start_revision=revs[3])
    assert conn.read(1)["created"]
    assert [e[3] for e in events(conn.read(1))] == revs[3:]


def test_prev_kv_and_filters(conn, client):
    conn.open(1)
    conn.create(1, b"p", prev_kv=True)
    conn.create(1, b"p", filters=[0])             # NOPUT, by number
    conn.create(1, b"p", filters=["NODELETE"])    # by name
    for _ in range(3):
        assert conn.read(1)["created"]
    r1 = client.put("p", "a").header.revision
    r2 = client.put("p", "b").header.revision
    r3 = client.delete("p").header.revision
    got: dict[int, list] = {}
    for _ in range(3 + 1 + 2):
        r = conn.read(1)
        got.setdefault(r.get("watch_id", 0), []).extend(r["events"])
    assert [(e.get("type", 0), e["kv"]["mod_revision"], e.get("prev_kv", {}).get("value"))
            for e in got[0]] == [(0, r1, None), (0, r2, b"a"), (1, r3, b"b")]
    assert [(e["type"], "prev_kv" in e) for e in got[1]] == [(1, False)]
    assert [e["kv"]["mod_revision"] for e in got[2]] == [r1, r2]


def test_fragment_splits_a_large_response_only_for_who_asked(conn, client):
    # --max-request-bytes 65536: responses over 64 KiB + 512 KiB are fragmented
    for i in range(12):
        client.put(b"g%02d" % i, b"x" * 60_000)
    conn.open(1)
    conn.create(1, b"g", range_end=b"h", prev_kv=True, fragment=True)
    conn.create(1, b"g", range_end=b"h", prev_kv=True)
    conn.read(1), conn.read(1)
    rev = client.delete("g", "h").header.revision
    parts = {0: [], 1: []}
    while len(parts[1]) < 1 or sum(len(p["events"]) for p in parts[0]) < 12:
        r = conn.read(1)
        parts[r.get("watch_id", 0)].append(r)
    assert len(parts[0]) >= 2
    assert [p.get("fragment", False) for p in parts[0]] == [True] * (len(parts[0]) - 1) + [False]
    assert all(p["header"]["revision"] == rev for p in parts[0])
    assert len(parts[1]) == 1 and len(parts[1][0]["events"]) == 12
    assert "fragment" not in parts[1][0]


def test_a_slow_reader_stops_the_server_at_its_window_then_catches_up(member, client):
    wait_metric(member, "petcd_zmq_watch_streams", 0)
    slow = ZWatchConn(member.zmq_port, auto_ack=False)
    try:
        window = 16 * 1024
        assert slow.open(1, window_bytes=window)["opened"]["window_bytes"] == window
        slow.create(1, b"s", range_end=b"t")
        assert slow.read(1)["created"]
        fell_behind = metric(member, "petcd_watch_slow_watchers_total")
        revs = []
        t0 = time.monotonic()
        for i in range(200):  # ~200 KB of events, never blocked by the reader that lags
            revs.append(client.put(b"s%d" % (i % 10), b"v" * 1000).header.revision)
            if i % 40 == 0:
                slow.ping(1)  # alive, but reading nothing
        writes_s = time.monotonic() - t0
        slow.ping(1)
        # The server sent up to its window (plus one frame) and then waited for credit...
        assert slow.received_bytes[1] < window + window // 4 + 2048
        # ...and stopped buffering for the watcher (--watch-buffer-events 16).
        assert metric(member, "petcd_watch_slow_watchers_total") > fell_behind
        # Reading now, it gets every revision once, in order, caught up from the store.
        slow.ack(1, slow.received_bytes[1])
        slow.auto_ack = True
        got = []
        while len(got) < len(revs):
            got += [e[3] for e in events(slow.read(1))]
        assert got == revs
        wait_metric(member, "etcd_debugging_mvcc_slow_watcher_total", 0)
        assert writes_s < 30
    finally:
        slow.close()


def test_closed_gone_and_silent_clients_lose_their_watchers(member, client):
    wait_metric(member, "petcd_zmq_watch_streams", 0)
    base = metric(member, "etcd_debugging_mvcc_watcher_total")
    a = ZWatchConn(member.zmq_port)
    for sid in (1, 2):
        a.open(sid)
        for i in range(3):
            a.create(sid, b"d%d" % i)
        for i in range(3):
            a.read(sid)
    assert metric(member, "etcd_debugging_mvcc_watcher_total") == base + 6
    # closed: at once, and said so
    a.close_stream(1)
    assert a.frame(1) == {"stream": 1, "closed": True}
    wait_metric(member, "etcd_debugging_mvcc_watcher_total", base + 3)
    # gone: the connection drops; the next event for it finds no peer
    gone = metric(member, "petcd_zmq_watch_peers_gone_total")
    a.close()
    time.sleep(0.2)
    client.put("d0", "x")
    wait_metric(member, "etcd_debugging_mvcc_watcher_total", base, timeout_s=5)
    assert metric(member, "petcd_zmq_watch_peers_gone_total") == gone + 1
    # silent: connected, but nothing sent for the keepalive: the lease expires
    expired = metric(member, "petcd_zmq_watch_streams_expired_total")
    b = ZWatchConn(member.zmq_port)
    try:
        b.open(1)
        b.create(1, b"quiet")
        b.read(1)
        assert metric(member, "etcd_debugging_mvcc_watcher_total") == base + 1
        t0 = time.monotonic()
        err = b.frame(1, timeout_s=KEEPALIVE_MS / 1000 + 3)
        assert err["error"]["code"] == 14 and "expired" in err["error"]["message"]
        assert KEEPALIVE_MS / 1000 - 0.5 < time.monotonic() - t0 < KEEPALIVE_MS / 1000 + 2
        assert metric(member, "etcd_debugging_mvcc_watcher_total") == base
        assert metric(member, "petcd_zmq_watch_streams_expired_total") == expired + 1
    finally:
        b.close()
    wait_metric(member, "etcd_debugging_mvcc_watch_stream_total", 0)


def test_petcdctl_watch_over_tcp(member, client):
    ep = f"tcp://127.0.0.1:{member.zmq_port}"
    p = subprocess.Popen([sys.executable, "-m", "petcd.ctl", "--endpoints", ep, "watch",
                          "cw", "--prefix"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the watch is open (its created answer is not printed)
        client.put("cw1", "bar")
        assert [p.stdout.readline() for _ in range(3)] == ["PUT\n", "cw1\n", "bar\n"]
    finally:
        p.terminate()
        p.wait(10)
    first = client.put("cwc", "1").header.revision
    client.put("cwc", "2")
    client.compact(first + 1)
    r = subprocess.run([sys.executable, "-m", "petcd.ctl", "--endpoints", ep, "watch", "cwc",
                        "--rev", str(first)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 5  # etcdctl 3.4's exit code and texts (tests/conformance, watch)
    assert r.stderr == ("watch was canceled (etcdserver: mvcc: required revision has been "
                        "compacted)\nError: watch is canceled by the server\n")


def test_async_client_watch_over_tcp(member, client):
    revs = [client.put(f"aw{i}", "v").header.revision for i in range(3)]

    async def main():
        async with AsyncClient(f"tcp://127.0.0.1:{member.zmq_port}") as ac:
            got = []
            agen = ac.watch("aw", prefix=True, start_revision=revs[0])
            async for resp in agen:
                got += [e.kv.mod_revision for e in resp.events]
                if len(got) >= 3:
                    break
            await agen.aclose()
            return got

    assert asyncio.run(main()) == revs


@pytest.mark.slow
def test_client_watch_resumes_after_a_member_restart(start_member):
    m = start_member(name="restart", extra_args=("--zmq-stream-keepalive-ms", "1000"))
    ep = f"tcp://127.0.0.1:{m.zmq_port}"
    got, lock = [], threading.Lock()

    def on(resp):
        with lock:
            got.extend((e.kv.key, e.kv.mod_revision) for e in resp.events)

    with Client(ep) as c:
        w = c.watch("r", prefix=True, callback=on)
        try:
            assert w.created.wait(10)
            revs = [c.put(f"r{i}", "v").header.revision for i in range(2)]
            m.stop()
            m.start()
            revs += [c.put(f"r{i}", "v").header.revision for i in range(2, 4)]
            deadline = time.monotonic() + 20
            while len(got) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # nothing more (no event twice)
            assert got == [(f"r{i}".encode(), rev) for i, rev in enumerate(revs)]
            assert w.error is None
        finally:
            w.cancel()
