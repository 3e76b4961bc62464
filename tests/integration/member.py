"""A real petcd member on loopback for integration tests: free ports, a temp data dir, and a
stop that always happens (the supervisor, then any stage process left behind)."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from petcd.testing.member import free_port, stage_pids

READY_TIMEOUT_S = 60.0


class Member:
    def __init__(self, base: Path, name: str = "m1", extra_args: tuple[str, ...] = (),
                 peer_port: int | None = None) -> None:
        self.name = name
        self.data_dir = base / f"{name}.petcd"
        self.client_port = free_port()
        self.zmq_port = free_port()
        self.peer_port = peer_port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.log_path = base / f"{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def args(self) -> list[str]:
        return [sys.executable, "-m", "petcd.supervisor", "--name", self.name,
                "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-client-zmq-urls", f"tcp://127.0.0.1:{self.zmq_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                *self.extra_args]

    def start(self) -> Member:
        return self.launch().wait_ready()

    def launch(self) -> Member:
        """Start the process without waiting (members of a cluster start together)."""
        log = open(self.log_path, "ab")
        self._log_offset = log.tell()  # a restart appends: only this run's lines count
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return self

    def wait_ready(self) -> Member:
        offset = self._log_offset
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"petcd exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text()[-2000:]}")
            if b"ready to serve client requests" in self.log_path.read_bytes()[offset:]:
                # Remembered: once the supervisor is gone its stages are no longer its children.
                self._known_stage_pids = self.stage_pids()
                return self
            time.sleep(0.05)
        raise RuntimeError(f"petcd not ready in {READY_TIMEOUT_S} s: "
                           f"{self.log_path.read_text()[-2000:]}")

    def stage_pids(self) -> dict[str, int]:
        """pid of each stage process of this member: children of its supervisor, found by
        their process titles (`petcd: <name> <stage>`)."""
        if self.proc is None:
            return {}
        return stage_pids(self.proc.pid, self.name)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        stages = {**getattr(self, "_known_stage_pids", {}), **self.stage_pids()}
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in stages.values():  # whatever outlived its supervisor
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
                        f"petcd: {self.name} ".encode()):
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, FileNotFoundError):
                pass
        for pid in stages.values():  # and wait until they are gone (they hold locks)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                try:
                    if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                        break
                except OSError:
                    break
                time.sleep(0.01)
        return self.proc.returncode

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=30)
        try:
            conn.request(method, path, body=body if body or method != "GET" else None,
                         headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def post(self, path: str, doc: dict) -> tuple[int, dict]:
        status, _, body = self.request("POST", path, json.dumps(doc).encode())
        return status, json.loads(body)
