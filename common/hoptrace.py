"""Timestamps of the points a request passes through the stages (bench/hop_trace.py).

Theory of operation: off unless the environment variable PETCD_HOPTRACE names a directory.
Then every process of the member records (point, CLOCK_MONOTONIC ns) in memory and writes the
list to <dir>/trace.<pid>.json when it exits. The monotonic clock is one clock for every
process of the machine, so the bench can line up one put's points across the stages (and the
members of a cluster on one machine). Off, a call site costs one attribute test
(`if hoptrace.ON:`), nothing more.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
import time

_DIR = os.environ.get("PETCD_HOPTRACE") or None
ON = _DIR is not None
# Bounded: a member left running with tracing on stops recording, rather than growing.
MAX_POINTS = 2_000_000
_points: list[tuple[str, int]] = []


def point(name: str) -> None:
    if len(_points) < MAX_POINTS:
        _points.append((name, time.monotonic_ns()))


def _dump() -> None:
    if not _points:
        return
    try:
        with open("/proc/self/cmdline", "rb") as f:
            title = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        title = sys.argv[0]
    with open(os.path.join(_DIR, f"trace.{os.getpid()}.json"), "w") as f:
        json.dump({"process": title, "points": _points}, f)


if ON:
    atexit.register(_dump)
