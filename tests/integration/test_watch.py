"""Watch on a real member over HTTP: disconnects, many watchers on one stream, slow readers."""
import base64
import json
import threading
import time

import pytest

from tests.conformance.watch_client import WatchConn

pytestmark = pytest.mark.integration


def b64(s) -> str:
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def create(key, **kw) -> str:
    return json.dumps({"create_request": {"key": b64(key), **kw}})


def metric(m, name: str) -> int:
    _, _, body = m.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no metric {name}")


def wait_metric(m, name: str, want: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := metric(m, name)) != want:
        assert time.monotonic() < deadline, f"{name} = {got}, want {want}"
        time.sleep(0.02)


def put(m, key, value="v"):
    status, doc = m.post("/v3/kv/put", {"key": b64(key), "value": b64(value)})
    assert status == 200, doc
    return int(doc["header"]["revision"])


def test_disconnect_drops_its_watchers(start_member):
    m = start_member()
    conns = []
    for i in range(3):
        c = WatchConn(m.client_port)
        c.send("".join(create(f"k{i}-{j}") for j in range(5)))
        for _ in range(5):
            assert c.read_line()["result"]["created"]
        conns.append(c)
    assert metric(m, "etcd_debugging_mvcc_watcher_total") == 15
    conns[1].close()
    wait_metric(m, "etcd_debugging_mvcc_watcher_total", 10)
    wait_metric(m, "etcd_debugging_mvcc_watch_stream_total", 2)
    # the others still work
    put(m, "k2-3")
    line = conns[2].read_line()["result"]
    assert line["watch_id"] == "3" and line["events"][0]["kv"]["key"] == b64("k2-3")
    for c in conns:
        c.close()
    wait_metric(m, "etcd_debugging_mvcc_watcher_total", 0)


def test_many_watchers_on_one_stream_each_event_once(start_member):
    m = start_member()
    c = WatchConn(m.client_port)
    n = 400
    c.send("".join(create(f"key{i:04d}") for i in range(n)))
    c.send(json.dumps({"create_request": {"key": b64("key"), "range_end": b64("kez")}}))
    ids = [c.read_line()["result"].get("watch_id", "0") for _ in range(n + 1)]
    assert ids == [str(i) for i in range(n + 1)]
    revs = {put(m, f"key{i:04d}", f"v{i}"): i for i in range(0, n, 7)}
    seen: dict[str, list[int]] = {}
    expected_lines = 2 * len(revs)  # the single-key watcher and the range watcher
    for _ in range(expected_lines):
        r = c.read_line()["result"]
        rev = int(r["header"]["revision"])
        assert [int(e["kv"]["mod_revision"]) for e in r["events"]] == [rev]
        seen.setdefault(r.get("watch_id", "0"), []).append(rev)
    assert seen.pop(str(n)) == sorted(revs)
    assert seen == {str(i): [rev] for rev, i in revs.items()}
    c.close()


@pytest.mark.slow
def test_slow_reader_does_not_block_writes_and_catches_up(start_member):
    m = start_member(extra_args=("--watch-buffer-events", "16"))
    slow = WatchConn(m.client_port, timeout_s=60)
    slow.send(create("s", range_end=b64("t")))
    assert slow.read_line()["result"]["created"]
    fast = WatchConn(m.client_port, timeout_s=60)
    fast.send(create("s", range_end=b64("t")))
    assert fast.read_line()["result"]["created"]
    value = "x" * 30_000
    n = 300  # ~12 MB of responses the slow client does not read while they are written
    fast_revs = []

    def read_fast():  # the fast client keeps up, in its own thread
        while len(fast_revs) < n:
            r = fast.read_line()["result"]
            fast_revs.extend(int(e["kv"]["mod_revision"]) for e in r["events"])

    reader = threading.Thread(target=read_fast)
    reader.start()
    revs = [put(m, f"s{i % 10}", value) for i in range(n)]  # never blocked by the slow one
    first, last = revs[0], revs[-1]
    reader.join(60)
    assert fast_revs == list(range(first, last + 1))
    # The slow client was not served from memory past its buffer: it fell behind...
    assert metric(m, "petcd_watch_slow_watchers_total") >= 1
    # ...and, reading now, gets every revision once, in order, from the store.
    slow_revs = []
    while len(slow_revs) < n:
        r = slow.read_line()["result"]
        slow_revs += [int(e["kv"]["mod_revision"]) for e in r["events"]]
    assert slow_revs == list(range(first, last + 1))
    wait_metric(m, "etcd_debugging_mvcc_slow_watcher_total", 0)
    slow.close()
    fast.close()
