"""A small builder for transactions: compares and ops as plain values.

    from petcd.client import txn as t
    req = (t.Txn().when(t.value("k") == "v", t.mod("k") < 10)
                  .then(t.put("k", "w"), t.get("k"))
                  .otherwise(t.get("k"))).request()

`value|version|create|mod|lease(key)` give a target; comparing it with ==, !=, < or > gives
a common.kv.Compare (etcd's Compare message). `get`, `put`, `delete` and `txn` give RequestOps.
Everything here is pure and immutable: a Txn is a frozen value and each call returns a new one.
"""
from __future__ import annotations

from dataclasses import dataclass

from petcd.common.kv import (Compare, CompareResult, CompareTarget, DeleteRangeRequest,
                             PutRequest, RangeRequest, RequestOp, SortOrder, SortTarget,
                             TxnRequest)
from .ranges import key_range, to_bytes

_FIELD = {CompareTarget.VERSION: "version", CompareTarget.CREATE: "create_revision",
          CompareTarget.MOD: "mod_revision", CompareTarget.VALUE: "value",
          CompareTarget.LEASE: "lease"}


@dataclass(frozen=True, slots=True)
class _Target:
    target: CompareTarget
    key: bytes
    range_end: bytes = b""

    def _cmp(self, result: CompareResult, operand) -> Compare:
        if self.target == CompareTarget.VALUE:
            operand = to_bytes(operand)
        else:
            operand = int(operand)
        return Compare(result=result, target=self.target, key=self.key,
                       range_end=self.range_end, **{_FIELD[self.target]: operand})

    def __eq__(self, other) -> Compare:  # type: ignore[override]
        return self._cmp(CompareResult.EQUAL, other)

    def __ne__(self, other) -> Compare:  # type: ignore[override]
        return self._cmp(CompareResult.NOT_EQUAL, other)

    def __lt__(self, other) -> Compare:
        return self._cmp(CompareResult.LESS, other)

    def __gt__(self, other) -> Compare:
        return self._cmp(CompareResult.GREATER, other)

    __hash__ = None  # type: ignore[assignment]


def _target(t: CompareTarget):
    def make(key, range_end=None, *, prefix: bool = False) -> _Target:
        k, e = key_range(key, range_end, prefix=prefix)
        return _Target(t, k, e)
    make.__name__ = t.name.lower()
    return make


value = _target(CompareTarget.VALUE)
version = _target(CompareTarget.VERSION)
create = _target(CompareTarget.CREATE)
mod = _target(CompareTarget.MOD)
lease = _target(CompareTarget.LEASE)


def get(key, range_end=None, *, prefix: bool = False, from_key: bool = False, limit: int = 0,
        revision: int = 0, sort_order: SortOrder = SortOrder.NONE,
        sort_target: SortTarget = SortTarget.KEY, serializable: bool = False,
        keys_only: bool = False, count_only: bool = False) -> RequestOp:
    k, e = key_range(key, range_end, prefix=prefix, from_key=from_key)
    return RequestOp(request_range=RangeRequest(
        key=k, range_end=e, limit=limit, revision=revision, sort_order=sort_order,
        sort_target=sort_target, serializable=serializable, keys_only=keys_only,
        count_only=count_only))


def put(key, value_, *, lease: int = 0, prev_kv: bool = False, ignore_value: bool = False,
        ignore_lease: bool = False) -> RequestOp:
    return RequestOp(request_put=PutRequest(key=to_bytes(key), value=to_bytes(value_),
                                            lease=lease, prev_kv=prev_kv,
                                            ignore_value=ignore_value,
                                            ignore_lease=ignore_lease))


def delete(key, range_end=None, *, prefix: bool = False, from_key: bool = False,
           prev_kv: bool = False) -> RequestOp:
    k, e = key_range(key, range_end, prefix=prefix, from_key=from_key)
    return RequestOp(request_delete_range=DeleteRangeRequest(key=k, range_end=e,
                                                             prev_kv=prev_kv))


def txn(inner: "Txn | TxnRequest") -> RequestOp:
    return RequestOp(request_txn=inner.request() if isinstance(inner, Txn) else inner)


@dataclass(frozen=True, slots=True)
class Txn:
    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()

    def when(self, *compares: Compare) -> Txn:
        return Txn(self.compare + compares, self.success, self.failure)

    def then(self, *ops: RequestOp) -> Txn:
        return Txn(self.compare, self.success + ops, self.failure)

    def otherwise(self, *ops: RequestOp) -> Txn:
        return Txn(self.compare, self.success, self.failure + ops)

    def request(self) -> TxnRequest:
        return TxnRequest(compare=self.compare, success=self.success, failure=self.failure)


def is_read_only(req: TxnRequest) -> bool:
    """True if no branch of req (nested txns included) writes."""
    for op in (*req.success, *req.failure):
        if op.request_put is not None or op.request_delete_range is not None:
            return False
        if op.request_txn is not None and not is_read_only(op.request_txn):
            return False
    return True


def is_guarded(req: TxnRequest) -> bool:
    """True if req is a compare-and-swap: at least one compare, each an EQUAL on a key's
    version or create/mod revision. Sent twice, the second run finds the key changed by the
    first and takes the failure branch, so a write is never applied twice."""
    return bool(req.compare) and all(
        c.result == CompareResult.EQUAL
        and c.target in (CompareTarget.VERSION, CompareTarget.CREATE, CompareTarget.MOD)
        for c in req.compare)
