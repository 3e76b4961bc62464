"""The petcd command as a user meets it: flags, process titles, stop and restart."""
import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

STAGES = {"api", "raft", "wal", "transport", "apply"}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def run_petcd(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "petcd.supervisor", *args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_bad_flag_is_one_line_and_exit_2():
    r = run_petcd("--no-such-flag")
    assert r.returncode == 2
    assert "no-such-flag" in r.stderr and "Traceback" not in r.stderr


def test_bad_value_is_one_line_and_exit_2(tmp_path):
    r = run_petcd("--data-dir", str(tmp_path / "d"), "--heartbeat-interval", "x")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "--heartbeat-interval" in r.stderr


def test_unusable_data_dir_is_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = run_petcd("--data-dir", str(blocker / "sub"))
    assert r.returncode == 2
    assert "cannot use data dir" in r.stderr and "Traceback" not in r.stderr


def test_five_titled_processes_and_clean_stop(start_member):
    m = start_member(name="titled")
    pids = m.stage_pids()
    assert set(pids) == STAGES
    for stage, pid in pids.items():
        title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        assert title == f"petcd: titled {stage}"
    assert m.stop(signal.SIGTERM) == 0
    for pid in pids.values():
        assert not _alive(pid)


def test_restart_on_the_same_data_dir_resumes(start_member):
    m = start_member(name="resume")
    for i in range(5):
        status, body = m.post("/v3/kv/put", {"key": b64(f"k{i}"), "value": b64(f"v{i}")})
        assert status == 200, body
    assert m.stop(signal.SIGINT) == 0
    m.start()
    status, body = m.post("/v3/kv/range", {"key": b64("k"), "range_end": b64("l")})
    assert status == 200
    assert [base64.b64decode(kv["value"]).decode() for kv in body["kvs"]] == \
        [f"v{i}" for i in range(5)]
    assert body["header"]["revision"] == "6"
    status, body = m.post("/v3/kv/put", {"key": b64("k5"), "value": b64("v5")})
    assert body["header"]["revision"] == "7"


def test_a_second_petcd_on_the_same_data_dir_is_refused(start_member):
    m = start_member(name="locked")
    r = run_petcd("--data-dir", str(m.data_dir), "--listen-client-urls", "http://127.0.0.1:1")
    assert r.returncode == 2 and "in use by another petcd" in r.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_api_workers_share_the_client_port(start_member):
    m = start_member(name="workers", extra_args=("--api-workers", "3"))
    pids = m.stage_pids()
    assert set(pids) == STAGES | {"api-2", "api-3"}
    workers = [pids["api"], pids["api-2"], pids["api-3"]]
    before = [_cpu_ticks(p) for p in workers]
    for i in range(300):  # one connection each: the kernel spreads them over the workers
        status, body = m.post("/v3/kv/put", {"key": b64(f"w{i:03d}"), "value": b64("v")})
        assert status == 200, body
    status, body = m.post("/v3/kv/range", {"key": b64("w"), "range_end": b64("x"),
                                           "count_only": True})
    assert body["count"] == "300" and body["header"]["revision"] == "301"
    # Every worker served a share: each spent CPU time during the load.
    assert all(_cpu_ticks(p) > b for p, b in zip(workers, before))
    assert m.stop() == 0


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
