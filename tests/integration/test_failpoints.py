"""Failpoints in a running member: armed over /debug/failpoints or from the environment, a
panic stops the member at that point, and a restart keeps every acknowledged write."""
import base64
import json
import os

import pytest

from .member import Member

pytestmark = pytest.mark.integration


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def put(m: Member, key: str, value: str) -> int:
    status, _ = m.post("/v3/kv/put", {"key": b64(key), "value": b64(value)})
    return status


def test_debug_endpoint_is_off_by_default(start_member):
    m = start_member()
    assert m.request("GET", "/debug/failpoints")[0] == 404
    assert m.request("PUT", "/debug/failpoints/wal.before_fsync", b"panic")[0] == 404


def test_arm_list_disarm_and_panic_then_restart(tmp_path):
    m = Member(tmp_path, "fp", ("--debug-failpoints", "true"))
    try:
        m.start()
        assert m.request("GET", "/debug/failpoints")[2] == b""
        assert m.request("PUT", "/debug/failpoints/wal.nowhere", b"panic")[0] == 404
        status, _, body = m.request("PUT", "/debug/failpoints/wal.before_fsync", b"explode")
        assert status == 400 and b"explode" in body
        assert m.request("PUT", "/debug/failpoints/watch.before_send", b"sleep(1)")[0] == 204
        assert m.request("DELETE", "/debug/failpoints/watch.before_send")[0] == 204
        for i in range(5):
            assert put(m, f"k{i}", f"v{i}") == 200
        # The fifth fsync from now crashes the wal stage: four more puts are acknowledged.
        assert m.request("PUT", "/debug/failpoints/wal.before_fsync", b"4*off->panic")[0] == 204
        assert m.request("GET", "/debug/failpoints")[2] == b"wal.before_fsync=4*off->panic\n"
        assert m.request("GET", "/debug/failpoints/wal.before_fsync")[2] == b"4*off->panic\n"
        acked = [f"k{i}" for i in range(5)]
        for i in range(5, 20):
            try:
                if put(m, f"k{i}", f"v{i}") == 200:
                    acked.append(f"k{i}")
            except OSError:
                break
        assert m.proc.wait(30) == 1  # the supervisor stops the member when a stage dies
        assert 5 < len(acked) <= 9  # each lone put is one fsync (other appends only add some)
        assert "failpoint wal.before_fsync: panic" in m.log_path.read_text()
        m.stop()
        m.extra_args = ()  # restart without the debug endpoint: nothing stays armed
        m.start()
        status, doc = m.post("/v3/kv/range", {"key": b64("k"), "range_end": b64("l")})
        keys = {base64.b64decode(kv["key"]).decode() for kv in doc.get("kvs", [])}
        assert set(acked) <= keys
        assert m.request("GET", "/debug/failpoints")[0] == 404
    finally:
        m.stop()


def test_environment_arms_failpoints_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("PETCD_FAILPOINTS", "apply.after_commit=print")
    m = Member(tmp_path, "fpenv")
    try:
        m.start()
        assert put(m, "a", "b") == 200
        assert "failpoint apply.after_commit: hit" in m.log_path.read_text()
    finally:
        m.stop()


def test_a_put_answered_before_its_lmdb_commit_survives_the_crash_of_apply(tmp_path):
    """apply answers before its LMDB commit (stages/apply/answered.py): a put is acknowledged
    while apply stalls before the commit, apply is killed there, and the restart replays the
    put from the WAL."""
    import signal
    from petcd.common.kv import RangeRequest
    from petcd.common.layout import db_dir
    from petcd.stages.apply.reader import MvccReader

    m = Member(tmp_path, "early", ("--debug-failpoints", "true"))
    try:
        m.start()
        assert put(m, "k0", "v0") == 200
        # The next commit stalls for a minute: long enough to answer, and to be killed.
        assert m.request("PUT", "/debug/failpoints/apply.before_commit",
                         b"sleep(60000)->off")[0] == 204
        assert put(m, "k1", "v1") == 200  # answered while its commit is stalled
        os.kill(m.stage_pids()["apply"], signal.SIGKILL)
        assert m.proc.wait(30) == 1  # the supervisor stops the member when a stage dies
        m.stop()
        reader = MvccReader.open(db_dir(str(m.data_dir)))
        try:
            stored = {kv.key for kv in reader.range(RangeRequest(key=b"k", range_end=b"l")).kvs}
        finally:
            reader.close()
        assert stored == {b"k0"}  # k1 was acknowledged, never committed to LMDB
        m.extra_args = ()
        m.start()
        status, doc = m.post("/v3/kv/range", {"key": b64("k"), "range_end": b64("l")})
        keys = {base64.b64decode(kv["key"]).decode() for kv in doc.get("kvs", [])}
        assert keys == {"k0", "k1"}
    finally:
        m.stop()
