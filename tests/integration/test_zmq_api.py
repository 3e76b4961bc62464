"""The native API: msgpack maps over ZeroMQ, many calls in flight on one connection."""
import msgpack
import pytest
import zmq

pytestmark = pytest.mark.integration


@pytest.fixture
def zsock(start_member):
    m = start_member(name="zmq")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)
    sock.connect(f"tcp://127.0.0.1:{m.zmq_port}")
    yield sock
    sock.close()
    ctx.term()


def call(sock, rid, method, request):
    sock.send(msgpack.packb({"id": rid, "method": method, "request": request}))
    return msgpack.unpackb(sock.recv(), raw=False)


def test_put_then_range(zsock):
    r = call(zsock, 1, "Put", {"key": b"foo", "value": b"bar"})
    assert r["id"] == 1 and r["response"]["header"]["revision"] == 2
    r = call(zsock, 2, "Range", {"key": b"foo"})
    kv = r["response"]["kvs"][0]
    assert (kv["key"], kv["value"], kv["version"], r["response"]["count"]) == \
        (b"foo", b"bar", 1, 1)


def test_many_calls_in_flight_on_one_connection(zsock):
    n = 200
    for i in range(n):
        zsock.send(msgpack.packb({"id": i, "method": "Put",
                                  "request": {"key": b"k%03d" % i, "value": b"v"}}))
    answers = [msgpack.unpackb(zsock.recv(), raw=False) for _ in range(n)]
    assert sorted(a["id"] for a in answers) == list(range(n))
    revisions = sorted(a["response"]["header"]["revision"] for a in answers)
    assert revisions == list(range(2, 2 + n))  # each applied once, none lost
    r = call(zsock, n, "Range", {"key": b"k", "range_end": b"l", "count_only": True})
    assert r["response"]["count"] == n


def test_etcd_errors_come_back_with_code_and_message(zsock):
    r = call(zsock, 7, "Range", {"key": b""})
    assert r == {"id": 7, "error": {"code": 3, "message": "etcdserver: key is not provided"}}
    r = call(zsock, 8, "Range", {"key": b"a", "revision": 100})
    assert r["error"] == {"code": 11,
                          "message": "etcdserver: mvcc: required revision is a future revision"}


def test_garbage_frames_get_an_error_and_the_listener_keeps_serving(zsock):
    for garbage in (b"\xc1\xc1", msgpack.packb([1, 2]), msgpack.packb({"id": "x"}),
                    msgpack.packb({"id": 3, "method": "Put", "request": {"key": 5}})):
        zsock.send(garbage)
        r = msgpack.unpackb(zsock.recv(), raw=False)
        assert r["error"]["code"] == 3, r
    r = call(zsock, 9, "Nope", {})
    assert r["error"]["code"] == 12
    assert "response" in call(zsock, 10, "Put", {"key": b"ok", "value": b"1"})


def test_leases_over_zmq(zsock):
    assert call(zsock, 1, "LeaseGrant", {"ttl": 30, "id": 12})["response"]["id"] == 12
    assert "error" not in call(zsock, 2, "Put", {"key": b"l", "value": b"v", "lease": 12})
    r = call(zsock, 3, "LeaseKeepAlive", {"id": 12})["response"]
    assert (r["id"], r["ttl"]) == (12, 30)
    r = call(zsock, 4, "LeaseTimeToLive", {"id": 12, "keys": True})["response"]
    assert r["granted_ttl"] == 30 and r["keys"] == [b"l"] and 25 <= r["ttl"] <= 30
    assert call(zsock, 5, "LeaseLeases", {})["response"]["leases"] == [{"id": 12}]
    assert "error" not in call(zsock, 6, "LeaseRevoke", {"id": 12})
    assert call(zsock, 7, "LeaseRevoke", {"id": 12})["error"] == {
        "code": 5, "message": "etcdserver: requested lease not found"}
    assert "kvs" not in call(zsock, 8, "Range", {"key": b"l"})["response"]


def test_maintenance_lock_and_election_calls(zsock):
    r = call(zsock, 1, "Lock", {"name": b"nlock"})
    key = r["response"]["key"]
    assert key.startswith(b"nlock/")
    assert "error" not in call(zsock, 2, "Unlock", {"key": key})
    won = call(zsock, 3, "Campaign", {"name": b"nel", "value": b"v"})["response"]["leader"]
    assert call(zsock, 4, "Leader", {"name": b"nel"})["response"]["kv"]["value"] == b"v"
    assert "error" not in call(zsock, 5, "Resign", {"leader": won})
    r = call(zsock, 6, "Leader", {"name": b"nel"})
    assert r["error"] == {"code": 2, "message": "election: no leader"}
    assert "hash" in call(zsock, 7, "Hash", {})["response"]
    assert call(zsock, 8, "HashKV", {})["response"]["header"]["revision"] > 1
    assert call(zsock, 9, "Defragment", {}) == {"id": 9, "response": {}}
