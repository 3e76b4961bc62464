"""When a failed call may be sent again, and how long to wait first.

Theory of operation: a call may be retried (on the next endpoint) only if doing it twice cannot
change the outcome: reads (Range, read-only Txn, Status, MemberList, HashKV, Alarm GET, lease
time-to-live and list), and writes guarded by a compare-and-swap (txn.is_guarded). Any call may
be retried when it provably never reached a server (connection refused). Only errors that say
"this member cannot serve now" are retried: unreachable, `Unavailable` (no leader, leader
changed, timed out). An etcd error that is an answer (not found, compacted, bad argument) is
final. The back-off doubles from `backoff_base_s` up to `backoff_max_s`. Pure: no I/O, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass

from petcd.common.kv import TxnRequest
from petcd.common.cluster import AlarmAction, AlarmRequest
from . import errors
from .txn import is_guarded, is_read_only

READ_METHODS = frozenset({"Range", "Status", "MemberList", "HashKV", "Hash",
                          "LeaseTimeToLive", "LeaseLeases"})


def is_idempotent(method: str, request: object) -> bool:
    if method in READ_METHODS:
        return True
    if method == "Txn" and isinstance(request, TxnRequest):
        return is_read_only(request) or is_guarded(request)
    if method == "Alarm" and isinstance(request, AlarmRequest):
        return request.action == AlarmAction.GET
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff_base_s: float = 0.05
    backoff_max_s: float = 1.0

    def should_retry(self, method: str, request: object, error: BaseException,
                     attempt: int, sent: bool = True) -> bool:
        """attempt counts from 1 (the call that just failed)."""
        if attempt >= self.attempts:
            return False
        if not isinstance(error, errors.Unavailable):
            return False
        return not sent or is_idempotent(method, request)

    def backoff_s(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
