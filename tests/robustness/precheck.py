"""Fast checks that need no search, run before the linearizability DFS.

Theory of operation: etcd has one global revision, so every successful response pins where its
operation sits in the order of writes. Real time must agree with that pin: if A returned
before B was called, B saw at least A's revision, and strictly more if B itself bumped the
revision (B's write came after everything A saw). Two writes that bumped cannot share a
revision. And a read can only return a value somebody wrote. These catch the common bugs
(stale read, revision going back, a revision handed out twice, a made-up value) in
O(n log n) with a precise explanation, where the DFS would only say "no order works".

Serializable reads are skipped for the real-time rule (they may be stale by design) but their
values must still have been written by somebody.
"""
from __future__ import annotations

from typing import Sequence

from tests.robustness.history import (
    READS, CompactResponse, DeleteResponse, Delete, Get, LeaseGrantResponse,
    LeaseRevokeResponse, Operation, Put, PutResponse, Range, RangeResponse, Txn, TxnResponse,
)


def revision_of(op: Operation) -> int | None:
    """The header revision of a known, successful response (None for errors and defrag)."""
    r = op.response
    if op.unknown or not isinstance(r, (RangeResponse, PutResponse, DeleteResponse, TxnResponse,
                                        LeaseGrantResponse, LeaseRevokeResponse,
                                        CompactResponse)):
        return None
    return r.revision


def bumped(op: Operation) -> bool:
    """Did this known op certainly create its revision? (A revoke may or may not: say no.)"""
    r = op.response
    if isinstance(r, PutResponse):
        return True
    if isinstance(r, DeleteResponse):
        return r.deleted > 0
    if isinstance(r, TxnResponse):
        branch = op.request.on_success if r.succeeded else op.request.on_failure
        return any(isinstance(o, Put) or (isinstance(o, Delete) and isinstance(res, DeleteResponse)
                                          and res.deleted > 0)
                   for o, res in zip(branch, r.results))
    return False


def is_serializable(op: Operation) -> bool:
    return isinstance(op.request, READS) and op.request.serializable


def describe_op(index: int, op: Operation, t0_ns: int = 0) -> str:
    ret = ("never (unknown outcome)" if op.unknown
           else f"{(op.return_ns - t0_ns) / 1e6:.3f} ms")
    return (f"op #{index} client {op.client_id} {op.request!r}: called "
            f"{(op.call_ns - t0_ns) / 1e6:.3f} ms, returned {ret} -> {op.response!r}")


def _written_values(ops: Sequence[Operation], initial_values) -> set[str]:
    values = set(initial_values)
    for op in ops:
        req = op.request
        if isinstance(req, Put):
            values.add(req.value)
        elif isinstance(req, Txn):
            values.update(o.value for o in req.on_success + req.on_failure if isinstance(o, Put))
    return values


def _read_responses(op: Operation):
    r = op.response
    if isinstance(op.request, READS) and isinstance(r, RangeResponse):
        yield op.request, r
    elif isinstance(op.request, Txn) and isinstance(r, TxnResponse):
        branch = op.request.on_success if r.succeeded else op.request.on_failure
        for o, res in zip(branch, r.results):
            if isinstance(o, (Get, Range)) and isinstance(res, RangeResponse):
                yield o, res


def check_values(ops: Sequence[Operation], initial_values=()) -> list[tuple[int, str]]:
    """Every value a read returned was written by some Put (acknowledged or not).
    Returns (op index, explanation) pairs."""
    written = _written_values(ops, initial_values)
    t0 = min((op.call_ns for op in ops), default=0)
    out = []
    for i, op in enumerate(ops):
        if op.unknown:
            continue
        for req, res in _read_responses(op):
            if isinstance(req, Range) and req.keys_only:
                continue
            for kv in res.kvs:
                if kv.value not in written:
                    out.append((i, f"read of a value nobody wrote: {kv.key}={kv.value!r} in "
                                   f"{describe_op(i, op, t0)}"))
    return out


def check_revisions(ops: Sequence[Operation]) -> list[tuple[int, str]]:
    """Real time vs revisions, and no revision created twice. Returns (op index, explanation)
    pairs."""
    t0 = min((op.call_ns for op in ops), default=0)
    timed = [(i, op, revision_of(op)) for i, op in enumerate(ops)
             if not is_serializable(op) and revision_of(op) is not None]
    out = []
    by_return = sorted(timed, key=lambda t: t[1].return_ns)
    j, best = 0, None   # best: the op with the highest revision among those already returned
    for i, op, rev in sorted(timed, key=lambda t: t[1].call_ns):
        while j < len(by_return) and by_return[j][1].return_ns < op.call_ns:
            if best is None or by_return[j][2] > best[2]:
                best = by_return[j]
            j += 1
        if best is None:
            continue
        need = best[2] + (1 if bumped(op) else 0)
        if rev < need:
            what = "wrote at" if bumped(op) else "saw"
            out.append((i, f"revision went back: {describe_op(i, op, t0)} {what} revision {rev}, "
                           f"but before it was called {describe_op(best[0], best[1], t0)} had "
                           f"already returned revision {best[2]}"))
    writers: dict[int, int] = {}
    for i, op, rev in timed:
        if bumped(op):
            if rev in writers:
                k = writers[rev]
                out.append((i, f"revision {rev} created twice: by {describe_op(k, ops[k], t0)} "
                               f"and by {describe_op(i, op, t0)}"))
            else:
                writers[rev] = i
    return out
