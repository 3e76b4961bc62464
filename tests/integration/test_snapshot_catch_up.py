"""A follower that was down while the leader compacted its log catches up by snapshot: the
leader streams its LMDB store, the follower installs it and carries on from the log."""
import base64

import pytest

from .test_cluster import wait_for_leader
from .test_cluster_durability import wait_converged

pytestmark = pytest.mark.integration

SNAPSHOT_ARGS = ("--snapshot-count", "40", "--snapshot-catch-up-entries", "5",
                 # small chunks, so even this small store streams in many pieces
                 "--snapshot-chunk-bytes", "4096")


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def put(m, key: str, value: str) -> None:
    status, body = m.post("/v3/kv/put", {"key": b64(key), "value": b64(value)})
    assert status == 200, body


def test_stopped_follower_catches_up_by_snapshot(start_cluster):
    members = start_cluster(3, extra_args=SNAPSHOT_ARGS)
    lead = wait_for_leader(members)
    follower = next(m for m in members if m is not lead)
    put(lead, "before", "1")
    wait_converged(members)
    follower.stop()

    others = [m for m in members if m is not follower]
    for i in range(300):     # many snapshots' worth: the follower's next entry is compacted
        put(others[i % 2], f"k{i:04d}", "x" * (i % 200))
    status, _ = lead.post("/v3/kv/compaction", {"revision": "100"})
    assert status == 200

    follower.start()
    revision, kvs = wait_converged(members, timeout_s=60)
    assert int(revision) == 302 and len(kvs) == 301
    log = follower.log_path.read_text()
    assert "installed the store received with snapshot" in log, log[-3000:]
    # The follower goes on from the log after the snapshot, and serves linearizable reads.
    put(follower, "after", "2")
    status, body = follower.post("/v3/kv/range", {"key": b64("after")})
    assert status == 200 and body["kvs"][0]["value"] == b64("2")
    status, body = follower.post("/v3/kv/range", {"key": b64("k0001"), "revision": "50"})
    assert body == {"error": "etcdserver: mvcc: required revision has been compacted",
                    "message": "etcdserver: mvcc: required revision has been compacted",
                    "code": 11}
    # Its hash of the key space equals the leader's.
    hashes = {m.post("/v3/maintenance/hashkv", {})[1]["hash"] for m in members}
    assert len(hashes) == 1


@pytest.mark.slow
def test_restarted_follower_keeps_the_installed_snapshot(start_cluster):
    members = start_cluster(3, extra_args=SNAPSHOT_ARGS)
    lead = wait_for_leader(members)
    follower = next(m for m in members if m is not lead)
    follower.stop()
    for i in range(120):
        put(lead, f"k{i:04d}", "v")
    follower.start()
    wait_converged(members, timeout_s=60)
    follower.stop()
    follower.start()          # the WAL's snapshot marker and the store agree after a restart
    revision, kvs = wait_converged(members, timeout_s=60)
    assert len(kvs) == 120
    assert not list((follower.data_dir / "member" / "snap").glob("*.snap.db*"))
