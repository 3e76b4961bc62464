"""Named failpoints: places where a test makes a stage crash or stall (gofail's idea).

Theory of operation: code calls `hit("wal.before_fsync")` at the places etcd's own tests crash
it (reference/reliability-testing.md 1.4, 6.1 F3). Nothing is armed in production, so a hit is
one test of an empty dict. A failpoint is armed with a term:

    off               do nothing
    panic             log one line and exit the process at once (os._exit: no cleanup, no
                      flush, like kill -9 but chosen at a point in the code)
    sleep(MS)         stall the calling thread MS milliseconds
    print             log the hit
    N*TERM            do TERM at most N times, then fall through to what follows `->`
    A->B              do A until it is used up, then B: `4*off->panic` panics on the 5th hit

Terms are armed from the environment at process start (`PETCD_FAILPOINTS="name=term;..."`,
inherited by every stage from the supervisor), or at run time through the api's debug endpoint
when --debug-failpoints is on: the api forwards the term to the control socket of the stage
that owns the failpoint (control.py), so an arm is in force when the HTTP answer returns.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

ENV = "PETCD_FAILPOINTS"

# name -> (stage that owns it, where it is). The api refuses to arm a name not listed here.
CATALOG: dict[str, tuple[str, str]] = {
    "wal.before_write": ("wal", "before a batch of appends is written"),
    "wal.before_fsync": ("wal", "after the batch is written, before its fdatasync"),
    "wal.after_fsync": ("wal", "after the fdatasync, before the held messages leave and "
                               "raft hears AppendDone"),
    "wal.before_send": ("wal", "after a batch is written (and synced if it must be), before "
                               "the messages to peers that waited on it leave"),
    "wal.lose_unsynced": ("wal", "before the fdatasync; its panic first zeroes the bytes not "
                                 "yet synced, as a power cut would lose them"),
    "wal.after_release": ("wal", "after segments before a snapshot are released"),
    "snapshot.before_save": ("wal", "before a raft snapshot file is written"),
    "snapshot.after_save": ("wal", "after the snapshot file and marker are durable"),
    "raft.before_save": ("raft", "before a Ready's entries and hard state go to the wal"),
    "raft.after_save": ("raft", "after the wal's AppendDone, before the entries enter the "
                                "log cache"),
    "raft.before_leader_send": ("raft", "before the leader hands messages to transport"),
    "raft.before_follower_send": ("raft", "before a follower hands messages to transport "
                                          "(not its append answers and votes: wal sends those)"),
    "apply.before_commit": ("apply", "before the LMDB transaction of a batch commits"),
    "apply.after_commit": ("apply", "after the LMDB commit, before results are published"),
    "snapshot.before_apply": ("apply", "before a received snapshot is installed"),
    "snapshot.after_apply": ("apply", "after a received snapshot is installed"),
    "compact.before_commit": ("apply", "before a compaction batch commits"),
    "compact.after_commit": ("apply", "after a compaction batch commits"),
    "watch.before_send": ("api", "before a watch response is written to its client"),
    "watch.before_sync": ("api", "before a lagging watcher is caught up from the store"),
}

log = logging.getLogger("petcd.failpoint")

_TERM = re.compile(r"^(?:(\d+)\*)?(off|panic|print|sleep\((\d+)\))$")


class FailpointError(ValueError):
    """A term that does not parse, or a name that is not in the catalog."""


@dataclass(slots=True)
class _Step:
    action: str            # off | panic | print | sleep
    sleep_ms: int
    remaining: int | None  # None: forever


class Failpoint:
    """One armed failpoint: its term as given and the steps left to run."""

    def __init__(self, term: str) -> None:
        self.term = term
        self._steps = parse(term)
        self._lock = threading.Lock()

    def fire(self, name: str, before_panic: Callable[[], None] | None = None) -> None:
        with self._lock:
            while self._steps and self._steps[0].remaining == 0:
                self._steps.pop(0)
            if not self._steps:
                return
            step = self._steps[0]
            if step.remaining is not None:
                step.remaining -= 1
        if step.action == "panic":
            if before_panic is not None:
                before_panic()
            log.error("failpoint %s: panic", name)
            for h in logging.getLogger().handlers + log.handlers:
                h.flush()
            os._exit(86)
        elif step.action == "sleep":
            log.warning("failpoint %s: sleep %d ms", name, step.sleep_ms)
            time.sleep(step.sleep_ms / 1000)
        elif step.action == "print":
            log.warning("failpoint %s: hit", name)


def parse(term: str) -> list[_Step]:
    steps = []
    for part in term.strip().split("->"):
        m = _TERM.match(part.strip())
        if m is None:
            raise FailpointError(f"bad failpoint term {part.strip()!r} in {term!r}")
        count, action, sleep_ms = m.groups()
        steps.append(_Step("sleep" if sleep_ms is not None else action, int(sleep_ms or 0),
                           int(count) if count is not None else None))
    return steps


_armed: dict[str, Failpoint] = {}


def hit(name: str, before_panic: Callable[[], None] | None = None) -> None:
    """The failpoint `name` is reached. Costs one empty-dict test when nothing is armed.
    `before_panic` runs just before a panic exits (to leave the state a crash would)."""
    if _armed:
        fp = _armed.get(name)
        if fp is not None:
            fp.fire(name, before_panic)


def any_armed() -> bool:
    """For a hit whose name costs work to pick: skip that work in production."""
    return bool(_armed)


def arm(name: str, term: str) -> None:
    if name not in CATALOG:
        raise FailpointError(f"unknown failpoint {name!r}")
    _armed[name] = Failpoint(term)


def disarm(name: str) -> None:
    _armed.pop(name, None)


def armed() -> dict[str, str]:
    return {name: fp.term for name, fp in _armed.items()}


def parse_env(value: str) -> dict[str, str]:
    """`name=term;name=term` -> {name: term}, every term checked."""
    out = {}
    for item in value.split(";"):
        if not item.strip():
            continue
        name, sep, term = item.partition("=")
        name = name.strip()
        if not sep or name not in CATALOG:
            raise FailpointError(f"bad {ENV} item {item.strip()!r}")
        parse(term)
        out[name] = term.strip()
    return out


def arm_from_env(stage: str) -> None:
    """Arm this stage's failpoints named in the environment (others belong to other stages)."""
    for name, term in parse_env(os.environ.get(ENV, "")).items():
        if CATALOG[name][0] == stage.split("-")[0]:
            arm(name, term)
