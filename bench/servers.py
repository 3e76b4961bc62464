"""etcd and petcd members for the benches: free loopback ports, temp data dirs, a start that
waits until the member serves, a kill -9 of the whole member, and a stop that always happens.

Theory of operation: a `Member` is one etcd or one petcd member, started from the same etcd
flags (petcd accepts them), alone or as part of a cluster (`start_cluster`). A member counts as
up once a linearizable range answers 200 on its HTTP port, which needs a leader, so a cluster is
up once each of its members is. `kill9` is a crash: etcd is one process; a petcd member is its
supervisor plus five stage processes, each in its own session (the launcher starts them with
`start_new_session`), so they are found by their titles `petcd: <name> <stage>` and parent pid
and killed one by one, all before any is waited for. `stop` is SIGTERM, then SIGKILL for
whatever is left, including stages that outlived their supervisor; benches call it in a
`finally`, so no member survives a failed run.

Must never: signal a process this module did not start (pids are checked against the member's
title before a late kill), or leave a process behind.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from petcd.testing.member import free_port, stage_pids

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def post_json(url: str, path: str, body: dict, timeout_s: float = 10.0,
              ca_file: str | None = None) -> dict:
    """One POST of the gateway API; raises urllib.error.HTTPError on a non-2xx answer.
    ca_file: what an https:// URL's certificate is checked against."""
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout_s, context=_context(url, ca_file)) as r:
        return json.loads(r.read() or b"{}")


def put(url: str, key: bytes, value: bytes, timeout_s: float = 10.0) -> dict:
    return post_json(url, "/v3/kv/put", {"key": b64(key), "value": b64(value)}, timeout_s)


def _context(url: str, ca_file: str | None):
    """The TLS context for an https:// URL (trusting ca_file), None for http://."""
    if not url.startswith("https://"):
        return None
    import ssl
    return ssl.create_default_context(cafile=ca_file)


def status(url: str, timeout_s: float = 2.0) -> dict:
    """`/v3/maintenance/status`; int64 fields come back as strings (etcd's gateway), so the ones
    the benches compare are turned into ints here."""
    st = post_json(url, "/v3/maintenance/status", {}, timeout_s)
    return {"member_id": int(st["header"]["member_id"]), "leader": int(st.get("leader", 0)),
            "raft_term": int(st.get("raftTerm", 0)), "raft_index": int(st.get("raftIndex", 0))}


def wait_healthy(url: str, timeout_s: float = READY_TIMEOUT_S,
                 ca_file: str | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            post_json(url, "/v3/kv/range", {"key": b64(b"a")}, timeout_s=2, ca_file=ca_file)
            return
        except (OSError, ValueError):  # refused, 5xx while there is no leader, half a body
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready in {timeout_s:.0f} s")


class Member:
    """One etcd or petcd member. `peers` is the whole cluster's name=peer-url list, this member
    included; one member alone is a cluster of one."""

    def __init__(self, kind: str, name: str, workdir: str, etcd_binary: str = "/usr/bin/etcd",
                 extra_args: tuple[str, ...] = (), secure: bool = False,
                 ca_file: str | None = None) -> None:
        """secure: an https:// client URL (extra_args give the certificate), checked against
        ca_file."""
        self.kind, self.name, self.workdir = kind, name, workdir
        self.etcd_binary, self.extra_args = etcd_binary, tuple(extra_args)
        self.client_port, self.peer_port, self.zmq_port = free_port(), free_port(), free_port()
        self.ca_file = ca_file
        self.url = f"{'https' if secure else 'http'}://127.0.0.1:{self.client_port}"
        self.peer_url = f"http://127.0.0.1:{self.peer_port}"
        self.zmq_url = f"tcp://127.0.0.1:{self.zmq_port}"
        self.data_dir = os.path.join(workdir, f"{kind}-{name}")
        self.log_path = os.path.join(workdir, f"{kind}-{name}.log")
        self.initial_cluster = f"{name}={self.peer_url}"
        self.proc: subprocess.Popen | None = None
        self._stage_pids: dict[str, int] = {}

    def command(self) -> list[str]:
        common = ["--name", self.name, "--data-dir", self.data_dir,
                  "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                  "--listen-peer-urls", self.peer_url,
                  "--initial-advertise-peer-urls", self.peer_url,
                  "--initial-cluster", self.initial_cluster,
                  "--initial-cluster-token", "bench-cluster"]
        if self.kind == "etcd":
            return [self.etcd_binary, *common, "--log-outputs", "stderr", "--log-level", "error",
                    *self.extra_args]
        return [sys.executable, "-m", "petcd.supervisor", *common,
                "--listen-client-zmq-urls", self.zmq_url, "--log-level", "warn",
                *self.extra_args]

    def launch(self) -> Member:
        """Start without waiting: the members of a new cluster must all run before any serves.
        A restart reuses the data dir and the same flags (both ignore --initial-cluster then)."""
        with open(self.log_path, "ab") as log:
            # Its own session: a Ctrl-C of the bench must not reach it before `stop` does.
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> Member:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} {self.name} exited with {self.proc.returncode}:"
                                   f" {Path(self.log_path).read_text()[-2000:]}")
            try:
                wait_healthy(self.url, timeout_s=1, ca_file=self.ca_file)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
        self._stage_pids = self.stage_pids()
        return self

    def stage_pids(self) -> dict[str, int]:
        """petcd only: pid of each stage of this member (children of its supervisor whose title
        is `petcd: <name> <stage>`)."""
        if self.kind != "petcd" or self.proc is None:
            return {}
        return stage_pids(self.proc.pid, self.name)

    def _is_ours(self, pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
                f"petcd: {self.name} ".encode())
        except OSError:
            return False

    def kill9(self) -> float:
        """A crash of the whole member: SIGKILL to every one of its processes, stages first: a
        stage whose supervisor dies gets SIGTERM (PR_SET_PDEATHSIG) and stops in order, and a
        raft stage that stops in order hands its leadership over, which is no crash. Returns the
        monotonic time of the first signal: the pids are found before it, so the scan of /proc
        is not counted."""
        stages = {**self._stage_pids, **self.stage_pids()}
        victims = [pid for pid in stages.values() if self._is_ours(pid)]
        if self.proc is not None and self.proc.poll() is None:
            victims.append(self.proc.pid)
        killed_at = time.monotonic()
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap(stages)
        return killed_at

    def stop(self) -> None:
        if self.proc is None:
            return
        stages = {**self._stage_pids, **self.stage_pids()}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in stages.values():  # whatever outlived its supervisor
            if self._is_ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._reap(stages)

    def _reap(self, stages: dict[str, int]) -> None:
        # Wait until they are gone: a restarted member needs their ports and LMDB locks.
        if self.proc is not None:
            self.proc.wait()
        deadline = time.monotonic() + 10
        for pid in stages.values():
            while self._is_ours(pid) and time.monotonic() < deadline:
                time.sleep(0.01)


def start_cluster(kind: str, size: int, workdir: str, etcd_binary: str = "/usr/bin/etcd",
                  extra_args: tuple[str, ...] = (),
                  prepare: Callable[[Member, list[Member]], None] | None = None,
                  secure: bool = False, ca_file: str | None = None,
                  make_member: Callable[[str], Member] | None = None) -> list[Member]:
    """Start `size` members as one new cluster and wait until each serves. `prepare(member,
    members)` may adjust each member just before it launches (the robustness harness puts
    its peer links behind proxies there); make_member(name): a Member of a kind of its own
    (the harness's secure members). On failure every member started so far is stopped
    before the error goes up."""
    names = ["bench"] if size == 1 else [f"m{i}" for i in range(1, size + 1)]
    make = make_member or (lambda n: Member(kind, n, workdir, etcd_binary, extra_args, secure,
                                            ca_file))
    members = [make(n) for n in names]
    initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
    try:
        for m in members:
            m.initial_cluster = initial
            if prepare is not None:
                prepare(m, members)
            m.launch()
        for m in members:
            m.wait_ready()
    except BaseException:
        stop_all(members)
        raise
    return members


def stop_all(members: list[Member]) -> None:
    for m in members:
        try:
            m.stop()
        except Exception as e:  # stop the others anyway
            print(f"warning: stopping {m.kind} {m.name}: {e}", file=sys.stderr)


def find_leader(members: list[Member], timeout_s: float = 30.0) -> Member:
    """The member whose status says it leads (`leader == header.member_id`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in members:
            if m.proc is None or m.proc.poll() is not None:
                continue
            try:
                st = status(m.url)
            except (OSError, ValueError, KeyError):
                continue
            if st["leader"] and st["leader"] == st["member_id"]:
                return m
        time.sleep(0.1)
    raise RuntimeError("no leader")
