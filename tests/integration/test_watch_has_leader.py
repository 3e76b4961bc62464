"""Has-leader watches (etcd issue #10819) on a member that loses its quorum: the two others of
a 3-member cluster are stopped. As etcd 3.4 does (checked against a real 3-member etcd: the
stream error arrived 1.8 s after the kill with a 500 ms election timeout), a watch opened with
`Grpc-Metadata-Hasleader: true` is ended with the gateway's stream error "etcdserver: no
leader" (after three election timeouts without a leader), a new one is refused with it (503),
and a watch without the header keeps waiting, and delivers once the cluster is back. The same
over the native protocol's `require_leader`."""
import base64
import json
import select
import time

import pytest

from tests.conformance.watch_client import WatchConn
from tests.conformance.zmq_watch_client import ZWatchConn
from .test_cluster import wait_for_leader

pytestmark = pytest.mark.integration

ARGS = ("--heartbeat-interval", "50", "--election-timeout", "500")
NO_LEADER = {"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader",
                       "http_status": "Service Unavailable"}}
HAS_LEADER = {"Grpc-Metadata-Hasleader": "true"}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def create(key: str) -> str:
    return json.dumps({"create_request": {"key": b64(key)}})


@pytest.mark.slow
def test_has_leader_watches_end_without_a_leader_others_wait(start_cluster):
    members = start_cluster(3, extra_args=ARGS)
    lead = wait_for_leader(members)
    lone = next(m for m in members if m is not lead)  # a follower; its leader goes away
    deadline = time.monotonic() + 20
    while lone.post("/v3/maintenance/status", {})[1].get("leader", "0") == "0":
        assert time.monotonic() < deadline, "the follower never heard of its leader"
        time.sleep(0.05)
    http_hl = WatchConn(lone.client_port, headers=HAS_LEADER, timeout_s=15)
    http_plain = WatchConn(lone.client_port, timeout_s=15)
    for c in (http_hl, http_plain):
        c.send(create("hl"))
        assert c.read_line()["result"]["created"]
    z = ZWatchConn(lone.zmq_port, timeout_s=15)
    try:
        assert "opened" in z.open(1, require_leader=True)
        assert "opened" in z.open(2)
        for sid in (1, 2):
            z.create(sid, b"hl")
            assert z.read(sid)["created"]
        t0 = time.monotonic()
        for m in members:
            if m is not lone:
                m.stop()
        # The has-leader streams end with etcd's error, as the last thing on them.
        status, _, body = http_hl.read_response()
        ended_s = time.monotonic() - t0
        assert status == 200 and json.loads(body) == NO_LEADER
        err = z.frame(1)
        assert err == {"stream": 1, "error": {"code": 14, "message": "etcdserver: no leader"}}
        assert ended_s < 10
        # New ones are refused at once.
        refused = WatchConn(lone.client_port, headers=HAS_LEADER)
        refused.send(create("hl"))
        status, _, body = refused.read_response()
        assert (status, json.loads(body)) == (503, NO_LEADER)
        refused.close()
        assert z.open(3, require_leader=True) == {
            "stream": 3, "error": {"code": 14, "message": "etcdserver: no leader"}}
        # The others keep waiting: open, nothing on them.
        assert select.select([http_plain.sock], [], [], 1.0)[0] == []
        assert z.ping(2)["pong"] and z.quiet(2, 0.2)
        # The quorum comes back: they deliver.
        for m in members:
            if m is not lone:
                m.start()
        wait_for_leader(members, timeout_s=30)
        deadline = time.monotonic() + 30
        while lone.post("/v3/kv/put", {"key": b64("hl"), "value": b64("back")})[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        r = http_plain.read_line()["result"]
        assert r["events"][0]["kv"]["value"] == b64("back")
        assert z.read(2)["events"][0]["kv"]["value"] == b"back"
    finally:
        for c in (http_hl, http_plain, z):
            c.close()
