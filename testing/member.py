"""A throwaway petcd member for tests of code that uses petcd: free loopback ports, a temp
data dir, started with `python -m petcd.supervisor`, ready when its log says so, and always
stopped (SIGTERM, then SIGKILL after a grace period)."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

READY_TIMEOUT_S = 60.0


# Ports are drawn below the kernel's ephemeral range (32768 and up on Linux): a port the
# kernel handed out for "port 0" is also what it hands the next outgoing connection, so a
# member could find it taken between the test's pick and its bind. The range also stays clear
# of the dev cluster's ports (2379, 12379, 22379 and their offsets).
PORT_RANGE = (13_000, 22_000)
_given: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now, never the same twice in one process."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(*PORT_RANGE)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE}")


def stage_pids(supervisor_pid: int, name: str) -> dict[str, int]:
    """pid of each stage process of member `name`: the supervisor's children whose process
    title is `petcd: <name> <stage>`."""
    prefix = f"petcd: {name} ".encode()
    out: dict[str, int] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == supervisor_pid and title.startswith(prefix):
            out[title[len(prefix):].decode()] = int(pid)
    return out


class ThrowawayMember:
    def __init__(self, base: Path, name: str = "test", extra_args: tuple[str, ...] = ()):
        self.name, self.base, self.extra_args = name, Path(base), extra_args
        self.client_port, self.zmq_port, self.peer_port = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.base / f"{name}.log"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def zmq_endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.zmq_port}"

    def start(self) -> ThrowawayMember:
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [sys.executable, "-m", "petcd.supervisor", "--name", self.name,
                "--data-dir", str(self.base / f"{self.name}.petcd"),
                "--listen-client-urls", self.http_endpoint,
                "--advertise-client-urls", self.http_endpoint,
                "--listen-client-zmq-urls", self.zmq_endpoint,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                *self.extra_args]
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while b"ready to serve client requests" not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"petcd did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)  # polling a log file: there is no event to wait on
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            # the member's own process group: its stages, never anything else
            import os
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
