"""Logging for every process of a member: one line per event, to stderr, tagged with the stage.

The supervisor's children inherit its stderr, so a member's whole log is one stream, and each
line says which stage wrote it.
"""
from __future__ import annotations

import logging
import sys
import time

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}


def setup(stage: str, level: str = "info") -> logging.Logger:
    root = logging.getLogger("petcd")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname).1s | {stage}: %(message)s"))
        root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    return logging.getLogger(f"petcd.{stage}")


class Throttled:
    """A warning that can repeat many times a second (a peer sending garbage, a full pipe),
    written at most once per `interval_s`, so that a fault cannot flood the log."""

    def __init__(self, logger: logging.Logger, interval_s: float = 1.0) -> None:
        self.logger, self.interval_s = logger, interval_s
        self._logged_at = float("-inf")

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged_at >= self.interval_s:
            self._logged_at = now
            self.logger.warning(msg, *args)
