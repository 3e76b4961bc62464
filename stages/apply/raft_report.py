"""How often apply tells raft its applied index.

raft needs the applied index for what can wait a little: when to snapshot its log, lease
questions from workers that are ahead of it, and elections and membership changes behind a
conf change. api workers need it at once (they answer clients), and hear of every batch on
their own pipe. So raft hears at most once per interval, and at once when a batch changed the
membership or leases (raft acts on those: a conf change unblocks the next one). A report held
back is sent by a one-shot timer at the end of the interval, so raft is never left behind for
longer than that. Each report apply does not send is a turn raft does not take.
"""
from __future__ import annotations

import time
from typing import Callable

from petcd.common.pipeline import Applied


class RaftReport:
    def __init__(self, send: Callable[[Applied], None], interval_s: float,
                 later: Callable[[float, Callable[[], None]], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.send = send
        self.interval_s = interval_s
        self.later = later
        self.clock = clock
        self.sent_at = float("-inf")
        self.held: Applied | None = None

    def applied(self, applied: Applied, urgent: bool = False) -> None:
        now = self.clock()
        if urgent or now - self.sent_at >= self.interval_s:
            self._send(applied, now)
            return
        if self.held is None:
            self.later(self.sent_at + self.interval_s - now, self.flush)
        self.held = applied

    def flush(self) -> None:
        """The end of an interval: send what was held back, if anything still is."""
        if self.held is not None:
            self._send(self.held, self.clock())

    def _send(self, applied: Applied, now: float) -> None:
        self.held = None
        self.sent_at = now
        self.send(applied)
