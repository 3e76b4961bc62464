"""The history checks of one run, as a list of problems (empty: the run passed)."""
from __future__ import annotations

from .history import History
from .validate import validate

CHECK_TIMEOUT_S = 120.0


def verify(history: History, timeout_s: float = CHECK_TIMEOUT_S) -> list[str]:
    report = validate(history, timeout_s)
    if report.ok is True:
        return []
    if report.ok is None:
        return [f"linearizability check gave up after {timeout_s:.0f} s (inconclusive)"]
    return [report.explain()]

