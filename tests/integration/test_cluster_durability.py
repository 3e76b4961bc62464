"""A 3-member cluster under a steady write load: kill -9 the leader, writes resume, the member
rejoins, and every acknowledged write is on all three members, which hold the same data at the
same revision. A restart of all three at once keeps every acknowledged write too."""
import base64
import json
import os
import signal
import threading
import time

import pytest

from .test_cluster import wait_for_leader

pytestmark = pytest.mark.integration


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class Load(threading.Thread):
    """Sequential puts of unique keys, spread over the members; remembers what was acked."""

    def __init__(self, members) -> None:
        super().__init__(daemon=True)
        self.members = members
        self.acked: set[str] = set()
        self.stop_flag = False

    def run(self) -> None:
        i = 0
        while not self.stop_flag:
            m = self.members[i % len(self.members)]
            key = f"key-{i:06d}"
            try:
                status, _, _ = m.request("POST", "/v3/kv/put", json.dumps(
                    {"key": b64(key), "value": b64("v")}).encode())
                if status == 200:
                    self.acked.add(key)
            except OSError:
                time.sleep(0.05)  # that member is down: try the next one
            i += 1


def dump(m) -> tuple[str, list]:
    status, body = m.post("/v3/kv/range", {"key": b64("\0"), "range_end": b64("\0"),
                                           "serializable": True})
    kvs = [(kv["key"], kv["mod_revision"], kv.get("value")) for kv in body.get("kvs", [])]
    return body["header"]["revision"], kvs


def wait_converged(members, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while True:
        dumps = [dump(m) for m in members]
        if all(d == dumps[0] for d in dumps):
            return dumps[0]
        assert time.monotonic() < deadline, [d[0] for d in dumps]
        time.sleep(0.2)


# The default run kills the whole member; every stage's own kill runs with -m slow.
@pytest.mark.parametrize("victim", ['member', pytest.param('api', marks=pytest.mark.slow), pytest.param('raft', marks=pytest.mark.slow), pytest.param('wal', marks=pytest.mark.slow), pytest.param('transport', marks=pytest.mark.slow), pytest.param('apply', marks=pytest.mark.slow)])
def test_kill_9_the_leader_under_load(start_cluster, victim):
    """kill -9 the whole leader, or one of its stage processes (the member then stops)."""
    members = start_cluster(3, extra_args=("--heartbeat-interval", "50",
                                           "--election-timeout", "500"))
    load = Load(members)
    load.start()
    while len(load.acked) < 30:
        time.sleep(0.05)
    lead = wait_for_leader(members)
    stages = lead.stage_pids()
    if victim == "member":
        victims = list(stages.values()) + [lead.proc.pid]
    else:
        victims = [pid for name, pid in stages.items() if name.split("-")[0] == victim][:1]
    assert victims, stages
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    acked_at_kill = len(load.acked)
    deadline = time.monotonic() + 30
    while len(load.acked) < acked_at_kill + 30:  # writes resume on the other two
        assert time.monotonic() < deadline, "writes did not resume"
        time.sleep(0.05)
    lead.stop()
    lead.start()  # rejoins and catches up from the log
    time.sleep(0.5)
    load.stop_flag = True
    load.join(30)
    revision, kvs = wait_converged(members)
    keys = {base64.b64decode(k).decode() for k, _, _ in kvs}
    assert load.acked <= keys, f"lost: {sorted(load.acked - keys)[:5]}"
    assert int(revision) == len(keys) + 1  # each put applied exactly once


def test_restart_of_all_three_at_once_keeps_every_acknowledged_write(start_cluster):
    members = start_cluster(3)
    load = Load(members)
    load.start()
    while len(load.acked) < 50:
        time.sleep(0.05)
    load.stop_flag = True
    load.join(30)
    for m in members:  # kill -9 every process of every member at once
        for pid in list(m.stage_pids().values()) + [m.proc.pid]:
            os.kill(pid, signal.SIGKILL)
    for m in members:
        m.stop()
    for m in members:
        m.launch()
    for m in members:
        m.wait_ready()
    revision, kvs = wait_converged(members)
    keys = {base64.b64decode(k).decode() for k, _, _ in kvs}
    assert load.acked <= keys and int(revision) == len(keys) + 1
