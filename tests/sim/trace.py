"""The trace of one run: what happened at which step, for replay and for determinism checks.

Theory of operation: the simulator reports events as (step, kind, text-making arguments). The
default `NullTrace` drops them at once, so a normal run pays only for building small tuples.
`Trace` renders each line, feeds it to a hash (two runs of one seed must hash the same) and,
when verbose, prints it; it keeps the last lines so a failure can show what led to it.
Rendering uses the core's `describe` helpers, the same text the transcript tests use.
"""
from __future__ import annotations

import hashlib
import sys
from collections import deque
from typing import TextIO

from petcd.common.types import ConfState, Message
from petcd.stages.raft.core import SoftState
from petcd.stages.raft.core.describe import (
    describe_conf_state, describe_message, describe_soft_state,
)


class NullTrace:
    enabled = False
    verbose = 0

    def add(self, step: int, kind: str, *args: object) -> None:
        pass


def _render(arg: object) -> str:
    if isinstance(arg, Message):
        return describe_message(arg)
    if isinstance(arg, SoftState):
        return describe_soft_state(arg)
    if isinstance(arg, ConfState):
        return describe_conf_state(arg)
    return str(arg)


class Trace(NullTrace):
    """verbose: 0 quiet; 1 print faults, roles, client ops, commits; 2 also every message."""

    enabled = True

    def __init__(self, verbose: int = 0, out: TextIO | None = None, keep: int = 200) -> None:
        self.verbose = verbose
        self.out = out or sys.stdout
        self._hash = hashlib.sha256()
        self.lines = 0
        self.tail: deque[str] = deque(maxlen=keep)

    # Kinds printed only at verbose level 2: the message-level chatter.
    CHATTY = frozenset(("send", "recv", "drop", "persist", "apply", "tick"))

    def add(self, step: int, kind: str, *args: object) -> None:
        line = f"{step:7d} {kind:9s} " + " ".join(_render(a) for a in args if a != "")
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        self.lines += 1
        self.tail.append(line)
        if self.verbose >= 2 or (self.verbose == 1 and kind not in self.CHATTY):
            print(line, file=self.out)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
