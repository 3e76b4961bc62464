"""Txn: compares, the branch plan, pre-apply checks, and executing the taken branch.

Theory of operation (etcd 3.4 apply.go Txn, reference/etcd-api.md 1.1). A Txn is decided in
full before any of it is applied:

1. ``make_plan`` evaluates the compares of the txn *and of every nested txn on the taken path*
   against the state before the txn (etcd's compareToPath: nested compares do not see the outer
   txn's earlier writes).
2. ``check_puts`` (only if the txn can write) and then ``check_ranges`` walk the planned ops:
   ignore_value/ignore_lease on a missing key -> ErrKeyNotFound, unknown lease ->
   ErrLeaseNotFound, range revision future/compacted -> ErrFutureRev/ErrCompacted. Any failure
   fails the whole txn before anything is written.
3. ``execute`` applies the planned ops in order through the write batch; ranges there see the
   txn's earlier writes. All changes share one main revision with increasing sub-revisions.

Compare rules: the compares are ANDed; a missing key compares as version=create=mod=lease=0,
but a VALUE compare on a missing key is always false; with range_end every key in the range must
satisfy it, and an empty range compares as the missing key; the compare's target_union fields
other than ``target``'s compare as 0 (the dataclass simply holds 0 there).

Must never: write in steps 1-2; let a check failure leave any trace.
"""
from __future__ import annotations

from petcd.common.errors import (
    ErrCompacted, ErrEmptyKey, ErrFutureRev, ErrKeyNotFound, ErrLeaseNotFound,
)
from petcd.common.kv import (
    Compare, CompareResult, CompareTarget, KeyValue, ResponseHeader, ResponseOp, TxnRequest,
    TxnResponse,
)
from petcd.stages.apply.read import ReadView, fresh

_EMPTY_KV = KeyValue()
_VALUE = CompareTarget.VALUE
_CREATE = CompareTarget.CREATE
_MOD = CompareTarget.MOD
_VERSION = CompareTarget.VERSION
_LEASE = CompareTarget.LEASE
_EQUAL = CompareResult.EQUAL
_NOT_EQUAL = CompareResult.NOT_EQUAL
_GREATER = CompareResult.GREATER
_LESS = CompareResult.LESS


class Plan:
    """The taken branch of a txn and, in op order, the plans of its nested txns."""
    __slots__ = ("succeeded", "ops", "nested")

    def __init__(self, succeeded: bool, ops: tuple, nested: list[Plan]):
        self.succeeded = succeeded
        self.ops = ops
        self.nested = nested


def compare_kv(c: Compare, kv: KeyValue) -> bool:
    t = c.target
    if t == _VALUE:
        a, b = kv.value, c.value
    elif t == _VERSION:
        a, b = kv.version, c.version
    elif t == _CREATE:
        a, b = kv.create_revision, c.create_revision
    elif t == _MOD:
        a, b = kv.mod_revision, c.mod_revision
    elif t == _LEASE:
        a, b = kv.lease, c.lease
    else:
        a = b = 0  # etcd: an unknown target compares as equal (its result stays 0)
    r = c.result
    if r == _EQUAL:
        return a == b
    if r == _NOT_EQUAL:
        return a != b
    if r == _GREATER:
        return a > b
    if r == _LESS:
        return a < b
    return True   # etcd: an unknown result compares true


def apply_compare(view: ReadView, c: Compare) -> bool:
    if c.range_end:
        kvs, _ = view.range_kvs(c.key, c.range_end, view.rev, with_value=c.target == _VALUE)
    else:
        kv = view.get(c.key)
        kvs = [kv] if kv is not None else []
    if not kvs:
        # nil == empty string in gRPC: no way to compare a missing value, so always false.
        return False if c.target == _VALUE else compare_kv(c, _EMPTY_KV)
    for kv in kvs:
        if not compare_kv(c, kv):
            return False
    return True


def make_plan(view: ReadView, req: TxnRequest) -> Plan:
    ok = True
    for c in req.compare:
        if not apply_compare(view, c):
            ok = False
            break
    ops = req.success if ok else req.failure
    nested = [make_plan(view, op.request_txn) for op in ops if op.request_txn is not None]
    return Plan(ok, ops, nested)


def is_readonly(req: TxnRequest) -> bool:
    """etcd isTxnReadonly: every op of both branches is a range (a nested txn counts as write)."""
    for op in req.success:
        if op.request_range is None:
            return False
    for op in req.failure:
        if op.request_range is None:
            return False
    return True


def _walk(plan: Plan):
    """The non-txn ops of the planned path, depth first in op order."""
    nested = iter(plan.nested)
    for op in plan.ops:
        if op.request_txn is not None:
            yield from _walk(next(nested))
        else:
            yield op


def check_puts(view: ReadView, plan: Plan, lease_exists) -> None:
    """etcd checkPut over the taken path: ignore_* need the key, a lease must exist."""
    for op in _walk(plan):
        p = op.request_put
        if p is None:
            continue
        if not p.key:
            raise fresh(ErrEmptyKey)
        if (p.ignore_value or p.ignore_lease) and view.get(p.key) is None:
            raise fresh(ErrKeyNotFound)
        if p.lease and not lease_exists(p.lease):
            raise fresh(ErrLeaseNotFound)


def check_ranges(view: ReadView, plan: Plan) -> None:
    """etcd checkRange over the taken path, against the revisions before the txn."""
    # etcd's FirstRev is compactMainRev, which is -1 on a never-compacted store.
    first_rev = view.compact_rev if view.compact_rev > 0 else -1
    for op in _walk(plan):
        r = op.request_range
        if r is None or r.revision == 0:
            continue
        if r.revision > view.rev:
            raise fresh(ErrFutureRev)
        if r.revision < first_rev:
            raise fresh(ErrCompacted)


def execute(batch, plan: Plan) -> tuple[ResponseOp, ...]:
    """Apply the planned ops through ``batch`` (a mvcc.Batch inside an open op)."""
    out = []
    nested = iter(plan.nested)
    for op in plan.ops:
        if op.request_range is not None:
            out.append(ResponseOp(response_range=batch.range(op.request_range)))
        elif op.request_put is not None:
            out.append(ResponseOp(response_put=batch.apply_put(op.request_put)))
        elif op.request_delete_range is not None:
            out.append(ResponseOp(
                response_delete_range=batch.apply_delete_range(op.request_delete_range)))
        elif op.request_txn is not None:
            sub = next(nested)
            # A nested txn's own header is empty ({} on the gateway).
            out.append(ResponseOp(response_txn=TxnResponse(
                ResponseHeader(), sub.succeeded, execute(batch, sub))))
        else:
            out.append(ResponseOp())
    return tuple(out)
