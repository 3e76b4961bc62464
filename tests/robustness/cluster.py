"""The cluster under test: 1 or 3 members of petcd (or etcd), each peer link behind a proxy.

Theory of operation: members are bench/servers.py's `Member`s (the same launcher the benches
use for both systems). For a petcd cluster of 3 every directed peer link a→b goes through its
own LinkProxy (a dials b through it, --peer-dial-overrides), so a fault can cut, stall or
delay one direction of one link; etcd has no such override, so its runs use process faults
only. Everything a fault needs is here: find the leader, kill a member or one of its stage
processes and restart it, arm a failpoint over /debug/failpoints, stop and continue a member's
processes, and read each member's HashKV for the end-state check.

With a Security (secure mode, secure.py) the members serve TLS on their client URLs and have
auth on from before the first client request: every call here speaks https with the run's
client certificate and carries a token, root's for the harness's own calls (membership,
status, HashKV) and the traffic user's for the ops a run records (post's default).
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from petcd.bench.servers import Member, find_leader, start_cluster, stop_all
from tests.integration.proxy import LinkProxy
from .secure import Security, start_secure_cluster

RESTART_TIMEOUT_S = 60.0
FAILPOINT_CALL_TIMEOUT_S = 30.0


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _etcdctl_hash_kv(m: Member, revision: int,
                     security: Security | None) -> tuple[int, int] | str:
    # etcd 3.4's gateway has no HashKV route (it collides with Hash, reference/etcd-api.md
    # 2.x), so ask etcdctl, which speaks gRPC.
    tls = security.etcdctl_args() if security is not None else []
    r = subprocess.run(["etcdctl", f"--endpoints={m.url}", *tls, "endpoint", "hashkv",
                        f"--rev={revision}", "-w", "json"], capture_output=True, text=True,
                       env={**os.environ, "ETCDCTL_API": "3"}, timeout=10)
    if r.returncode != 0:
        return r.stderr.strip()
    doc = json.loads(r.stdout)[0]["HashKV"]
    return int(doc.get("hash", 0)), int(doc.get("compact_revision", 0))


class Cluster:
    def __init__(self, kind: str, size: int, workdir: Path, heartbeat_ms: int = 100,
                 election_ms: int = 1000, snapshot_count: int = 10_000,
                 catch_up_entries: int = 5_000, security: Security | None = None) -> None:
        self.kind, self.size, self.workdir = kind, size, workdir
        self.security = security
        self.proxies: dict[tuple[str, str], LinkProxy] = {}
        args = ["--heartbeat-interval", str(heartbeat_ms), "--election-timeout", str(election_ms),
                "--snapshot-count", str(snapshot_count)]
        if kind == "petcd":
            args += ["--snapshot-catch-up-entries", str(catch_up_entries),
                     "--watch-progress-notify-interval-ms", "100", "--debug-failpoints", "true"]
        else:
            args += ["--experimental-watch-progress-notify-interval", "100ms"]
        self.args = tuple(args)
        self.members: list[Member] = []

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> Cluster:
        proxied = self.kind == "petcd" and self.size > 1
        prepare = self._dial_through_proxies if proxied else None
        if self.security is None:
            self.members = start_cluster(self.kind, self.size, str(self.workdir),
                                         extra_args=self.args, prepare=prepare)
            return self
        self.members = start_secure_cluster(self.security, self.kind, self.size,
                                            str(self.workdir), self.args, prepare)
        self.security.enable_auth(self.leader())   # on failure, the caller's stop() runs
        return self

    def _dial_through_proxies(self, m: Member, members: list[Member]) -> None:
        """m dials each other member through a proxy of its own for that link."""
        dials = []
        for other in members:
            if other is not m:
                p = LinkProxy(other.peer_port)
                self.proxies[(m.name, other.name)] = p
                dials.append(f"{other.name}=tcp://127.0.0.1:{p.port}")
        m.extra_args = (*m.extra_args, "--peer-dial-overrides", ",".join(dials))

    def stop(self) -> None:
        stop_all(self.members)
        for p in self.proxies.values():
            p.close()

    def urls(self) -> dict[str, str]:
        return {m.name: m.url for m in self.members}

    def ports(self) -> dict[str, int]:
        return {m.name: m.client_port for m in self.members}

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def logs(self) -> dict[str, str]:
        return {m.name: Path(m.log_path).read_text(errors="replace")
                if os.path.exists(m.log_path) else "" for m in self.members}

    # -- questions --------------------------------------------------------------------------
    def post(self, m: Member, path: str, body: dict, timeout_s: float = 2.0,
             root: bool = False) -> tuple[int, dict]:
        """One gateway call; secure: as root, or as the traffic user (a recorded op)."""
        if self.security is not None:
            s = self.security
            return s.post(m.client_port, path, body, timeout_s, s.root if root else s.client)
        conn = http.client.HTTPConnection("127.0.0.1", m.client_port, timeout=timeout_s)
        try:
            conn.request("POST", path, json.dumps(body).encode())
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else {}
        finally:
            conn.close()

    def admin(self, m: Member, path: str, body: dict, timeout_s: float = 20.0) -> dict:
        """A cluster API call that must succeed (membership changes of a fault). Refusals an
        operator would retry are retried: "unhealthy cluster" until the leader has been
        connected to every voter for 5 s (etcd's strict reconfiguration check)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, doc = self.post(m, path, body, timeout_s=10.0, root=True)
            if status == 200:
                return doc
            if "unhealthy cluster" not in str(doc) or time.monotonic() > deadline:
                raise RuntimeError(f"{path} on {m.name}: HTTP {status} {doc}")
            time.sleep(0.2)

    def member_id(self, via: Member, name: str) -> int:
        members = self.admin(via, "/v3/cluster/member/list", {})["members"]
        return int(next(x["ID"] for x in members if x.get("name") == name))

    def leader(self, timeout_s: float = 30.0) -> Member:
        if self.security is None:
            return find_leader(self.members, timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:   # bench's find_leader, over https as root
            for m in self.members:
                if m.proc is None or m.proc.poll() is not None:
                    continue
                try:
                    status, doc = self.post(m, "/v3/maintenance/status", {}, root=True)
                except (OSError, http.client.HTTPException, ValueError):
                    continue
                leader = int(doc.get("leader", 0)) if status == 200 else 0
                if leader and leader == int(doc["header"]["member_id"]):
                    return m
            time.sleep(0.1)
        raise RuntimeError("no leader")

    def hash_kv(self, m: Member, revision: int) -> tuple[int, int] | str:
        """(hash, compact_revision) at `revision`, or the error text."""
        if self.kind == "etcd":
            return _etcdctl_hash_kv(m, revision, self.security)
        try:
            status, doc = self.post(m, "/v3/maintenance/hashkv", {"revision": str(revision)},
                                    root=True)
        except (OSError, ValueError) as e:
            return f"{type(e).__name__}: {e}"
        if status != 200:
            return doc.get("error") or str(doc)
        return int(doc.get("hash", 0)), int(doc.get("compact_revision", 0))

    # -- faults ---------------------------------------------------------------------------------
    def kill(self, m: Member) -> None:
        m.kill9()

    def restart(self, m: Member) -> None:
        m.launch()
        m.wait_ready(RESTART_TIMEOUT_S)

    def restart_all(self) -> None:
        """Launch every member, then wait for each: none is ready before a quorum is up."""
        for m in self.members:
            m.launch()
        for m in self.members:
            m.wait_ready(RESTART_TIMEOUT_S)

    def kill_stage(self, m: Member, stage: str) -> None:
        """SIGKILL one stage process; the supervisor then stops the whole member."""
        os.kill(m.stage_pids()[stage], signal.SIGKILL)
        self.wait_exit(m, 30.0)

    def wait_exit(self, m: Member, timeout_s: float) -> bool:
        try:
            m.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        m.kill9()  # reaps the stages it stopped (and any left behind)
        return True

    def wait_crash(self, m: Member, timeout_s: float) -> bool:
        """True once one of m's processes died (then the member is down and reaped); False if
        all still run after timeout_s."""
        pids = {**m._stage_pids, **m.stage_pids()}  # as started: a dead stage is no child
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if m.proc.poll() is not None or not all(
                    os.path.exists(f"/proc/{p}") and _alive(p) for p in pids.values()):
                return self.wait_exit(m, 30.0)
            time.sleep(0.02)
        return False

    def failpoint(self, m: Member, name: str, term: str | None) -> int:
        # Generous: a sleep armed in the api stage holds its one event loop at every hit, so
        # with several watchers to send to, the disarm waits a second behind each of them
        # (seed 11059: 7 s behind watch.before_send=sleep(1000) with 6 watchers).
        if self.security is not None:
            conn = self.security.connection("127.0.0.1", m.client_port,
                                            FAILPOINT_CALL_TIMEOUT_S)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", m.client_port,
                                              timeout=FAILPOINT_CALL_TIMEOUT_S)
        try:
            if term is None:
                conn.request("DELETE", f"/debug/failpoints/{name}")
            else:
                conn.request("PUT", f"/debug/failpoints/{name}", term.encode())
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def signal_member(self, m: Member, sig: int) -> None:
        pids = list(m.stage_pids().values()) + [m.proc.pid]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def links_of(self, name: str, inbound: bool = True, outbound: bool = True) -> list[LinkProxy]:
        return [p for (a, b), p in self.proxies.items()
                if (outbound and a == name) or (inbound and b == name)]
