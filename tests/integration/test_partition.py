"""Partitions through a TCP proxy per directed peer link: the minority refuses writes and
linearizable reads with etcd's errors (never stale data), the majority goes on, and the cut-off
member rejoins by itself once the links are restored."""
import base64
import time

import pytest

from .test_cluster import wait_for_leader

pytestmark = pytest.mark.integration

ARGS = ("--heartbeat-interval", "50", "--election-timeout", "500", "--request-timeout-ms", "2000")


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def isolate(name: str, proxies: dict, heal: bool = False) -> None:
    for (a, b), p in proxies.items():
        if name in (a, b):
            p.heal() if heal else p.cut()


@pytest.mark.parametrize("victim", ["leader", pytest.param("follower", marks=pytest.mark.slow)])
def test_minority_refuses_and_rejoins(victim, start_cluster):
    proxies: dict = {}
    members = start_cluster(3, extra_args=ARGS, proxies=proxies)
    lead = wait_for_leader(members)
    assert lead.post("/v3/kv/put", {"key": b64("k"), "value": b64("old")})[0] == 200
    cut = lead if victim == "leader" else next(m for m in members if m is not lead)
    rest = [m for m in members if m is not cut]
    isolate(cut.name, proxies)
    # The majority elects (or keeps) a leader and takes writes.
    wait_for_leader(rest)
    deadline = time.monotonic() + 20
    while rest[0].post("/v3/kv/put", {"key": b64("k"), "value": b64("new")})[0] != 200:
        assert time.monotonic() < deadline
    # The minority: writes time out, linearizable reads time out, never the stale "old".
    status, body = cut.post("/v3/kv/put", {"key": b64("x"), "value": b64("1")})
    assert (status, body["code"], body["message"]) == (500, 2, "context deadline exceeded")
    status, body = cut.post("/v3/kv/range", {"key": b64("k")})
    assert (status, body["code"], body["message"]) == (503, 14, "etcdserver: request timed out")
    # A serializable read is local, and may be stale: that is what it asks for.
    status, body = cut.post("/v3/kv/range", {"key": b64("k"), "serializable": True})
    assert status == 200
    # Heal: the member rejoins and sees the majority's write.
    isolate(cut.name, proxies, heal=True)
    deadline = time.monotonic() + 30
    while True:
        status, body = cut.post("/v3/kv/range", {"key": b64("k")})
        if status == 200 and body["kvs"][0]["value"] == b64("new"):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    assert cut.post("/v3/kv/put", {"key": b64("y"), "value": b64("2")})[0] == 200
