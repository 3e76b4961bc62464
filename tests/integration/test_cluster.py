"""Three members on loopback form one cluster: any member takes writes and serves
linearizable reads, the member list shows all three, and losing the leader is survived."""
import base64
import os
import signal
import time

import pytest

pytestmark = pytest.mark.integration


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def leader_of(members):
    for m in members:
        status, body = m.post("/v3/maintenance/status", {})
        if status == 200 and body.get("leader") == body["header"]["member_id"]:
            return m
    return None


def wait_for_leader(members, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lead = leader_of(members)
        if lead is not None:
            return lead
        time.sleep(0.1)
    raise AssertionError("no leader")


def test_three_members_replicate_and_forward(start_cluster):
    members = start_cluster(3)
    status, body = members[0].post("/v3/cluster/member/list", {})
    assert sorted(m["name"] for m in body["members"]) == ["c1", "c2", "c3"]
    # Every member published its client URLs through raft before it said it was ready.
    assert sorted(m["clientURLs"][0] for m in body["members"]) == sorted(m.url for m in members)
    ids = {m.post("/v3/cluster/member/list", {})[1]["header"]["cluster_id"] for m in members}
    assert len(ids) == 1
    # A write on each member, read back linearizably on every member.
    for i, m in enumerate(members):
        status, body = m.post("/v3/kv/put", {"key": b64(f"k{i}"), "value": b64(f"v{i}")})
        assert status == 200, body
    for m in members:
        status, body = m.post("/v3/kv/range", {"key": b64("k"), "range_end": b64("l")})
        assert status == 200
        assert [base64.b64decode(kv["value"]).decode() for kv in body["kvs"]] == \
            ["v0", "v1", "v2"]
        assert body["header"]["revision"] == "4"


def test_a_new_leader_serves_writes_after_the_leader_is_killed(start_cluster):
    members = start_cluster(3, extra_args=("--heartbeat-interval", "50",
                                           "--election-timeout", "500"))
    lead = wait_for_leader(members)
    assert lead.post("/v3/kv/put", {"key": b64("before"), "value": b64("1")})[0] == 200
    for pid in list(lead.stage_pids().values()) + [lead.proc.pid]:
        os.kill(pid, signal.SIGKILL)
    rest = [m for m in members if m is not lead]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, body = rest[0].post("/v3/kv/put", {"key": b64("after"), "value": b64("2")})
        except OSError:
            status = 0
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200
    status, body = rest[1].post("/v3/kv/range", {"key": b64("after")})
    assert body["kvs"][0]["value"] == b64("2")
    status, body = rest[1].post("/v3/kv/range", {"key": b64("before")})
    assert body["kvs"][0]["value"] == b64("1")


def test_move_leader_and_its_errors(start_cluster):
    members = start_cluster(3)
    lead = wait_for_leader(members)
    follower = next(m for m in members if m is not lead)
    target = follower.post("/v3/maintenance/status", {})[1]["header"]["member_id"]
    status, body = follower.post("/v3/maintenance/transfer-leadership", {"targetID": target})
    assert (status, body) == (412, {"error": "etcdserver: not leader",
                                    "message": "etcdserver: not leader", "code": 9})
    status, body = lead.post("/v3/maintenance/transfer-leadership", {"targetID": "12345"})
    assert status == 412 and body["message"] == "etcdserver: bad leader transferee"
    status, body = lead.post("/v3/maintenance/transfer-leadership", {"targetID": target})
    assert (status, body) == (200, {})
    assert wait_for_leader(members) is follower
    assert follower.post("/v3/kv/put", {"key": b64("x"), "value": b64("y")})[0] == 200


def test_graceful_stop_of_the_leader_hands_leadership_over(start_cluster):
    members = start_cluster(3, extra_args=("--election-timeout", "3000"))
    lead = wait_for_leader(members)
    t0 = time.monotonic()
    assert lead.stop(signal.SIGTERM) == 0
    rest = [m for m in members if m is not lead]
    new = wait_for_leader(rest)
    # Well within one election timeout (3 s): the new leader was handed the job.
    assert time.monotonic() - t0 < 3.0, time.monotonic() - t0
    assert b"transferring leadership before stopping" in lead.log_path.read_bytes()
    assert new.post("/v3/kv/put", {"key": b64("x"), "value": b64("y")})[0] == 200


def test_members_agree_on_hash_and_hashkv(start_cluster):
    members = start_cluster(3)
    for i in range(20):
        assert members[i % 3].post("/v3/kv/put", {"key": b64(f"h{i}"), "value": b64("v")})[0] \
            == 200
    members[0].post("/v3/kv/deleterange", {"key": b64("h1")})
    members[1].post("/v3/kv/compaction", {"revision": 10})
    # Once every member has applied everything (and finished compacting), they agree.
    deadline = time.monotonic() + 20
    while True:
        hashes = [m.post("/v3/maintenance/hash", {})[1] for m in members]
        kv_hashes = [m.post("/v3/maintenance/hashkv", {"revision": 0})[1] for m in members]
        if len({h["hash"] for h in hashes}) == 1 and \
                len({(h["hash"], h["compact_revision"]) for h in kv_hashes}) == 1:
            break
        assert time.monotonic() < deadline, (hashes, kv_hashes)
        time.sleep(0.1)
    assert hashes[0]["hash"]
    assert kv_hashes[0]["compact_revision"] == "10"
    # A different history gives a different hash.
    assert members[2].post("/v3/kv/put", {"key": b64("h0"), "value": b64("w")})[0] == 200
    assert members[2].post("/v3/kv/range", {"key": b64("h0")})[0] == 200
    assert members[2].post("/v3/maintenance/hash", {})[1]["hash"] != hashes[0]["hash"]
