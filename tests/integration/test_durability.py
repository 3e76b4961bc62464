"""Nothing acknowledged is ever lost: kill -9 any stage (or all of them) under a steady write
load, restart the member, and find every acknowledged write, applied exactly once."""
import base64
import json
import os
import signal
import threading
import time

import pytest

pytestmark = pytest.mark.integration


class Writer(threading.Thread):
    """Puts unique keys one at a time; remembers the ones etcd's API acknowledged."""

    def __init__(self, member) -> None:
        super().__init__(daemon=True)
        self.member = member
        self.acked: dict[str, int] = {}
        self.stop_flag = False

    def run(self) -> None:
        i = 0
        while not self.stop_flag:
            key = f"key-{i:06d}"
            try:
                status, _, body = self.member.request(
                    "POST", "/v3/kv/put",
                    json.dumps({"key": _b64(key), "value": _b64(f"v{i}")}).encode())
            except OSError:
                return  # the member is gone
            if status != 200:
                return
            self.acked[key] = int(json.loads(body)["header"]["revision"])
            i += 1


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _wait_acks(writer: Writer, n: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(writer.acked) < n and time.monotonic() < deadline and writer.is_alive():
        time.sleep(0.01)
    assert len(writer.acked) >= n, "the write load did not get going"


def _check_all_present(member, acked: dict[str, int]) -> None:
    status, body = member.post("/v3/kv/range", {"key": _b64("key-"), "range_end": _b64("key.")})
    assert status == 200, body
    found = {base64.b64decode(kv["key"]).decode(): kv for kv in body.get("kvs", [])}
    missing = sorted(set(acked) - set(found))
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    for key, rev in acked.items():
        kv = found[key]
        # Applied exactly once: the revision the client was told, version 1.
        assert int(kv["mod_revision"]) == rev and kv["version"] == "1", (key, kv, rev)
    # Revisions are dense: no entry was applied twice (each put bumps exactly once).
    revs = sorted(int(kv["mod_revision"]) for kv in found.values())
    assert revs == list(range(2, 2 + len(revs)))


# The default run kills every process at once; each stage alone runs with -m slow.
@pytest.mark.parametrize("victim", [pytest.param('api', marks=pytest.mark.slow), pytest.param('raft', marks=pytest.mark.slow), pytest.param('wal', marks=pytest.mark.slow), pytest.param('apply', marks=pytest.mark.slow), pytest.param('transport', marks=pytest.mark.slow), 'all'])
def test_kill_9_under_load_loses_no_acknowledged_write(victim, start_member):
    m = start_member(name=f"kill-{victim}")
    writer = Writer(m)
    writer.start()
    _wait_acks(writer, 50)
    pids = m.stage_pids()
    targets = list(pids.values()) + [m.proc.pid] if victim == "all" else [pids[victim]]
    for pid in targets:
        os.kill(pid, signal.SIGKILL)
    # A dead stage takes the member down (never half-alive).
    m.proc.wait(30)
    writer.stop_flag = True
    writer.join(30)
    m.stop()
    m.start()
    _check_all_present(m, writer.acked)
    # And it keeps serving.
    status, body = m.post("/v3/kv/put", {"key": _b64("after"), "value": _b64("x")})
    assert status == 200, body
