"""Key permissions: whether a user's roles let it read or write a key or a range of keys.

Theory of operation (etcd 3.4's auth/range_perm_cache.go, as observed). A user's permissions
are the union of its roles' grants, kept as two interval sets, one for reading and one for
writing (READWRITE goes into both). A grant of one key is the interval [key, key + "\\0"); a
grant with range_end "\\0" runs to the end of the key space. Byte strings order as bytes, except
that an empty one stands for infinity (etcd's BytesAffineComparable), at either end.

A request of one key (no range_end) is allowed if some interval holds the key. A request of a
range [key, range_end) is allowed only if the intervals that overlap it, taken in order, leave
no gap and cover it whole. Which checks a request needs is `checks_of()`: a range reads, a put
writes its key (and reads it too with prev_kv), a delete writes its range (and reads it with
prev_kv), a txn needs every compare's range read and the checks of both branches' ops.

petcd also checks the ops of nested txns, which etcd 3.4.23 skips (a user could then write
keys it may not; docs/compatibility.md).

Must never: allow a range that a gap in the grants leaves partly uncovered.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from .auth import PermType, Permission
from .kv import DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest

_INF = (1, b"")


def _k(b: bytes | None) -> tuple[int, bytes]:
    """An interval end as a sort key: empty (or None) is past every key."""
    return (0, b) if b else _INF


def _interval(key: bytes, range_end: bytes) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    if not range_end:
        return _k(key), _k(key + b"\0")
    return _k(key), _INF if range_end == b"\0" else _k(range_end)


@dataclass(frozen=True, slots=True)
class UserPerms:
    """A user's merged grants: sorted (begin, end) intervals of sort keys."""
    read: tuple = ()
    write: tuple = ()


def merge(perms: Iterable[Permission]) -> UserPerms:
    read, write = [], []
    for p in perms:
        ivl = _interval(p.key, p.range_end)
        if p.permType in (PermType.READ, PermType.READWRITE):
            read.append(ivl)
        if p.permType in (PermType.WRITE, PermType.READWRITE):
            write.append(ivl)
    return UserPerms(tuple(sorted(read)), tuple(sorted(write)))


def _allowed(intervals: tuple, key: bytes, range_end: bytes) -> bool:
    if not range_end:
        k = _k(key)
        return any(b <= k < e for b, e in intervals)
    begin, end = _interval(key, range_end)
    covered = None  # how far the overlapping intervals reach without a gap
    first = None
    for b, e in intervals:
        if not (begin < e and b < end):
            continue  # does not overlap the request
        if first is None:
            first, covered = b, e
            continue
        if covered < b:
            return False
        covered = max(covered, e)
    return first is not None and first <= begin and covered >= end


def allowed(perms: UserPerms, key: bytes, range_end: bytes, write: bool) -> bool:
    return _allowed(perms.write if write else perms.read, key, range_end)


def op_allowed(perms: UserPerms, op: object) -> bool:
    """Whether every permission `op` needs (checks_of) is granted."""
    return all(allowed(perms, key, range_end, write)
               for key, range_end, write in checks_of(op))


def checks_of(op: object) -> Iterator[tuple[bytes, bytes, bool]]:
    """(key, range_end, write) for every permission the op needs (not those of the keys its
    lease holds, which only apply knows)."""
    if isinstance(op, RangeRequest):
        yield op.key, op.range_end, False
    elif isinstance(op, PutRequest):
        yield op.key, b"", True
        if op.prev_kv:
            yield op.key, b"", False
    elif isinstance(op, DeleteRangeRequest):
        if op.prev_kv:
            yield op.key, op.range_end, False
        yield op.key, op.range_end, True
    elif isinstance(op, TxnRequest):
        for c in op.compare:
            yield c.key, c.range_end, False
        for branch in (op.success, op.failure):
            for o in branch:
                inner = (o.request_range or o.request_put or o.request_delete_range
                         or o.request_txn)
                if inner is not None:
                    yield from checks_of(inner)


def leases_of(op: object) -> Iterator[int]:
    """The leases a write attaches keys to (their other keys must be writable too)."""
    if isinstance(op, PutRequest):
        if op.lease:
            yield op.lease
    elif isinstance(op, TxnRequest):
        for branch in (op.success, op.failure):
            for o in branch:
                if o.request_put is not None or o.request_txn is not None:
                    yield from leases_of(o.request_put or o.request_txn)
