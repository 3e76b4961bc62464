"""The space quota: etcd's backendQuota (etcdserver/quota.go) and the NOSPACE cap.

Theory of operation. Two separate rules, as in etcd 3.4:

1. ``Quota.available(size_bytes, cost)``: would the db, at its current size plus the request's
   estimated cost, stay under ``quota_backend_bytes``? The api stage asks this *before*
   proposing (and then proposes a NOSPACE alarm and answers ErrNoSpace); the apply loop may ask
   again at apply time (etcd's quotaApplierV3 then applies the write anyway and answers
   ErrNoSpace). Database size is a local observation (LMDB page reuse depends on this member's
   readers), so it must never decide *what* is applied, or members would diverge.
2. The cap: while a NOSPACE alarm is active (replicated through raft, alarm_store.py) the store
   itself refuses Put, Txn with any put, and LeaseGrant with ErrNoSpace, before touching anything;
   Range, DeleteRange, Compact and LeaseRevoke still work (etcd's applierV3Capped). This is
   deterministic: every member holds the same alarms at the same log position.

Costs are etcd's: 256 + PutRequest's protobuf size per put; a txn costs the larger of its success
and failure branches. Unlike etcd 3.4 (which ignores them) puts in nested txns count: a nested
put must not slip past the cap.
"""
from __future__ import annotations

from petcd.common.kv import PutRequest, TxnRequest
from petcd.common.proto_size import put_size

DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024   # etcd DefaultQuotaBytes (2 GiB)
MAX_QUOTA_BYTES = 8 * 1024 * 1024 * 1024       # etcd's suggested maximum (startup warning)
KV_OVERHEAD = 256                              # etcd kvOverhead
LEASE_OVERHEAD = 64                            # etcd leaseOverhead: a LeaseGrant's cost


def put_cost(req: PutRequest, size: int | None = None) -> int:
    """size: req's protobuf size, if the caller has it."""
    return KV_OVERHEAD + (put_size(req) if size is None else size)


def _branch_cost(ops) -> int:
    total = 0
    for op in ops:
        if op.request_put is not None:
            total += put_cost(op.request_put)
        elif op.request_txn is not None:
            total += txn_cost(op.request_txn)
    return total


def txn_cost(req: TxnRequest) -> int:
    return max(_branch_cost(req.success), _branch_cost(req.failure))


def request_cost(req, size: int | None = None) -> int:
    """Cost of a Put or Txn request (0 for anything that cannot grow the store). size: a
    put's protobuf size, if the caller has it."""
    if isinstance(req, PutRequest):
        return put_cost(req, size)
    if isinstance(req, TxnRequest):
        return txn_cost(req)
    return 0


class Quota:
    """quota_backend_bytes: 0 = etcd's default (2 GiB), negative = no quota."""
    __slots__ = ("limit_bytes",)

    def __init__(self, quota_backend_bytes: int = 0):
        if quota_backend_bytes == 0:
            quota_backend_bytes = DEFAULT_QUOTA_BYTES
        self.limit_bytes = quota_backend_bytes if quota_backend_bytes > 0 else None

    def available(self, size_bytes: int, cost: int) -> bool:
        # etcd: Backend().Size() + cost < maxBackendBytes
        return self.limit_bytes is None or size_bytes + cost < self.limit_bytes
