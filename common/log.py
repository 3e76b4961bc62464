"""Logging for every process of a member: one line per event, to stderr, tagged with the stage.

The supervisor's children inherit its stderr, so a member's whole log is one stream, and each
line says which stage wrote it.
"""
from __future__ import annotations

import logging
import sys

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
