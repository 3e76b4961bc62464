"""Starts a member's five stage processes in order, watches them, and stops them.

Theory of operation: each stage is `python -m petcd.stages.<stage> <run/config.json>`. Stages
start in dependency order (apply, wal, raft, transport, api); each must report StageReady on
ctlc before the next starts, so a failure names the stage that failed. After that the
supervisor only watches: if any stage exits, the whole member is stopped (never a half-alive
member); a stage that reports the member removed from its cluster ends the watch too.
Stopping sends SIGTERM in reverse order and SIGKILL to whatever has not exited after a
grace period.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import zmq

from petcd.common.membership import MemberRemoved
from petcd.common.pipeline import StageFailed, StageReady
from petcd.ipc.channel import Receiver

STAGES = ("apply", "wal", "raft", "transport", "api")
# Stop clients first, then raft while transport and wal still run (a leader hands its
# leadership over before it goes), then the rest.
STOP_ORDER = ("api", "raft", "transport", "wal", "apply")
STAGE_START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


class StageError(RuntimeError):
    pass


class RemovedWhileStarting(StageError):
    """A stage learned, before the member was ready, that it was removed from the cluster
    (a removed member restarted: its peers tell it so)."""


class Launcher:
    def __init__(self, data_dir: str, config_path: str) -> None:
        self.data_dir = data_dir
        self.config_path = config_path
        self.procs: dict[str, subprocess.Popen] = {}
        self.removed = False   # a stage said this member was removed from the cluster
        self.ctx = zmq.Context()
        self.ctl = Receiver(self.ctx, data_dir, "ctlc")
        self._poller = zmq.Poller()
        self._poller.register(self.ctl.socket, zmq.POLLIN)

    def start_all(self, api_workers: int = 1) -> None:
        for stage in STAGES:
            if stage == "api":
                for i in range(1, api_workers + 1):
                    self.start("api", i)
            else:
                self.start(stage)

    def start(self, module: str, instance: int = 1) -> None:
        stage = module if instance == 1 else f"{module}-{instance}"
        env = dict(os.environ, PETCD_STAGE_INSTANCE=str(instance))
        self.procs[stage] = subprocess.Popen(
            [sys.executable, "-m", f"petcd.stages.{module}", self.config_path],
            stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        deadline = time.monotonic() + STAGE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._poller.poll(50):
                for msg in self.ctl.drain():
                    if isinstance(msg, StageFailed):
                        raise StageError(f"{msg.stage} stage failed to start: {msg.reason}")
                    if isinstance(msg, MemberRemoved):
                        self.removed = True
                        raise RemovedWhileStarting(f"{msg.stage}: removed from the cluster")
                    if isinstance(msg, StageReady) and msg.stage == stage:
                        return
            code = self.procs[stage].poll()
            if code is not None:
                raise StageError(f"{stage} stage exited with code {code} while starting")
        raise StageError(f"{stage} stage did not report ready within "
                         f"{STAGE_START_TIMEOUT_S:.0f} s")

    def watch(self, should_stop) -> str | None:
        """Block until a stage exits (its name is returned) or should_stop() is true."""
        while not should_stop():
            if self._poller.poll(100):
                for msg in self.ctl.drain():
                    if isinstance(msg, StageFailed):
                        return f"{msg.stage} ({msg.reason})"
                    if isinstance(msg, MemberRemoved):
                        self.removed = True
                        return None
            for stage, proc in self.procs.items():
                if proc.poll() is not None and not should_stop():
                    return f"{stage} (exit code {proc.returncode})"
        return None

    def stop_all(self) -> None:
        ordered = sorted(self.procs, key=lambda s: STOP_ORDER.index(s.split("-")[0]))
        for stage in ordered:
            proc = self.procs.get(stage)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.ctl.close()
        self.ctx.term()

    def pids(self) -> dict[str, int]:
        return {s: p.pid for s, p in self.procs.items()}

