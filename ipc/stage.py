"""What every stage process does first: read the member config, name itself, report in.

A stage is started by the supervisor as `python -m petcd.stages.<name> <config.json>`. It
loads the config the supervisor wrote, sets its process title (`petcd: <member> <stage>`, so
`ps` shows the pipeline), opens its pipes, and reports StageReady or StageFailed on ctlc. An
exception that escapes the stage's loop is reported with one line and the process exits 1; the
supervisor then stops the member (never a half-alive member).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import traceback
from typing import Callable

import zmq
from setproctitle import setproctitle

from petcd.common import failpoint, log
from petcd.common.config import MemberConfig
from petcd.common.pipeline import StageFailed, StageReady
from . import failpoints
from .channel import Sender


class StageContext:
    def __init__(self, stage: str, config: MemberConfig) -> None:
        self.stage = stage
        self.config = config
        self.data_dir = config.data_dir
        self.zmq = zmq.Context.instance()
        self.log = log.setup(stage, config.log_level)
        self._ctl = Sender(self.zmq, self.data_dir, "ctlc")

    def ready(self) -> None:
        self._ctl.send(StageReady(self.stage, os.getpid()))

    def failed(self, reason: str) -> None:
        self._ctl.send(StageFailed(self.stage, reason))

    def report(self, value: object) -> None:
        """Tell the supervisor something else about the member (MemberRemoved)."""
        self._ctl.send(value)

    def close(self) -> None:
        self.zmq.destroy(linger=0)


def load_config(path: str) -> MemberConfig:
    with open(path) as f:
        return MemberConfig(json.load(f))


def _die_with_parent() -> None:
    # Stages run in their own session (terminal signals reach only the supervisor, which
    # orchestrates the stop); if the supervisor itself dies, the kernel sends us SIGTERM so no
    # stage outlives its member.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def run_stage(stage: str, body: Callable[[StageContext], None]) -> None:
    """Entry point of a stage process: `body(ctx)` runs its loop until stopped."""
    _die_with_parent()
    if os.getppid() == 1:
        sys.exit(1)  # the supervisor died before prctl took effect
    config = load_config(sys.argv[1])
    # A stage run as several processes (api workers) names each one: api, api-2, ...
    instance = os.environ.get("PETCD_STAGE_INSTANCE", "")
    if instance and instance != "1":
        stage = f"{stage}-{instance}"
    setproctitle(f"petcd: {config.name} {stage}")
    ctx = StageContext(stage, config)
    try:
        failpoint.arm_from_env(stage)
        if config.debug_failpoints:
            failpoints.serve(config.data_dir, stage)
        body(ctx)
    except KeyboardInterrupt:
        pass
    except Exception as e:  # report once, in one line, and let the supervisor stop the member
        ctx.log.error("stage failed: %s", e)
        if config.log_level == "debug":
            traceback.print_exc()
        ctx.failed(f"{type(e).__name__}: {e}")
        ctx.close()
        sys.exit(1)
    ctx.close()
