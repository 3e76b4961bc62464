"""Raft snapshots bound the log: every --snapshot-count applied entries the member snapshots
its log, and WAL segments before the snapshot are released; a restart replays from it."""
import base64
import os

import pytest

pytestmark = pytest.mark.integration


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_wal_segments_are_released_and_restart_replays_from_the_snapshot(start_member):
    m = start_member(name="snaps", extra_args=("--snapshot-count", "50",
                                               "--wal-segment-size-bytes", "4096"))
    wal_dir = m.data_dir / "member" / "wal"
    most_segments = 0
    for i in range(400):
        status, body = m.post("/v3/kv/put", {"key": b64(f"k{i:04d}"), "value": b64("x" * 100)})
        assert status == 200, body
        most_segments = max(most_segments, len(os.listdir(wal_dir)))
    # 400 puts of ~150 bytes are ~15 segments of 4 KiB; released ones keep the count low.
    segments = [f for f in os.listdir(wal_dir) if f.endswith(".wal")]
    assert len(segments) < 12, segments
    assert os.listdir(m.data_dir / "member" / "snap"), "no snapshot file was written"
    m.stop()
    m.start()
    status, body = m.post("/v3/kv/range", {"key": b64("k"), "range_end": b64("l"),
                                           "count_only": True})
    assert body["count"] == "400" and body["header"]["revision"] == "401"
    status, body = m.post("/v3/kv/put", {"key": b64("after"), "value": b64("y")})
    assert body["header"]["revision"] == "402"
