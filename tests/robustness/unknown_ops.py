"""When may an operation of unknown outcome take effect? The pruning that keeps the
linearizability search from trying every pending unknown op at every point.

Theory of operation: an unknown op (timeout, lost connection) never returns, so it could be
linearized anywhere after its call, or never. Trying each pending one at every point is
exponential in their number, and most of them never took effect. Three facts of etcd make
almost all of those tries useless, without losing any valid linearization:

1. A bumping write (one that would create revision r) is needed only where revision r is
   unowned (no acknowledged write reported r: its owner must create it) and some known
   candidate needs the store past the present revision (a gap). In any valid order the next
   known op after an applied write is such a candidate.
2. A lease grant or a key-less revoke changes nothing any op sees except ops naming that lease,
   so it can wait until a candidate needs the lease to exist (or to be gone) and it does not
   (or does): moving it that late keeps the order valid.
3. A compaction changes nothing a later op needs except a "compacted" error, so it can wait
   until a candidate reports one.
4. Unknown puts whose value no response ever showed, on the same key and lease, are
   interchangeable, and so are unknown deletes of one key: only the first of each is tried.

Among the allowed ops, those whose effect some read or watch saw are tried first, then the
most recently called (an op pending long after its call most likely never took effect).
A revision that a read, a watch event or a prev_kv pins ("at r, k was put with v"; "k did
not change between m and R") may be filled only by an unknown op that agrees (strict_hints):
when two unknown writes could fill one revision, the search picks the one the responses
confirm, else the replay the watch check trusts could disagree with the watches for no
fault of the server. The caller retries without strict hints to tell "no order at all" from
"no order that agrees with the watches".
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Iterable, Sequence

from tests.robustness import model
from tests.robustness.history import (
    ERR_COMPACTED, ERR_LEASE_EXISTS, ERR_LEASE_NOT_FOUND, READS, Compact, Delete, ErrorResponse,
    Event, LeaseGrant, LeaseRevoke, Operation, Put, RangeResponse, Txn, TxnResponse,
)
from tests.robustness.precheck import bumped, revision_of

_WRITE, _LEASE, _COMPACT = range(3)


def _lease_refs(request) -> frozenset[int]:
    if isinstance(request, Put):
        return frozenset({request.lease_id} - {0})
    if isinstance(request, Txn):
        return frozenset(o.lease_id for o in request.on_success + request.on_failure
                         if isinstance(o, Put) and o.lease_id)
    if isinstance(request, (LeaseGrant, LeaseRevoke)):
        return frozenset({request.lease_id} - {0})
    return frozenset()


def _lease_needs(op: Operation, request) -> tuple[frozenset[int], frozenset[int]]:
    """The leases a known op's response says existed, and those it says did not."""
    r, refs = op.response, _lease_refs(request)
    if op.unknown or not refs:
        return frozenset(), frozenset()
    if isinstance(r, ErrorResponse):
        if r.error == ERR_LEASE_EXISTS:
            return refs, frozenset()
        return (frozenset(), refs) if r.error == ERR_LEASE_NOT_FOUND else (frozenset(),) * 2
    if isinstance(request, LeaseGrant):
        return frozenset(), refs
    if isinstance(request, Txn):
        branch = request.on_success if r.succeeded else request.on_failure
        return _lease_refs(Txn((), branch)), frozenset()
    return refs, frozenset()


def _kind(request) -> int:
    if isinstance(request, (LeaseGrant, LeaseRevoke)):
        return _LEASE
    if isinstance(request, Compact):
        return _COMPACT
    return _WRITE     # Put, Delete, Txn (unknown read-only txns never reach the search)


class _Observations:
    """What the responses say the revisions did.
    seen: values some response showed.
    hints: revision -> changes made there (a read's kv and a prev_kv name the put at their
    mod_revision, with its create revision and version; a watch event names itself).
    still: key -> merged intervals (lo, hi] in which the key did not change (a read at R of
    a kv last modified at m, and a prev_kv at r modified at m, say nothing touched it in
    between). Later reads prune the choices of the search early this way."""

    def __init__(self, ops: Sequence[Operation], watches):
        self.seen: set[str] = set()
        self.hints: dict[int, set] = {}
        spans: dict[str, list] = {}
        for op in ops:
            r, req = op.response, op.request
            if op.unknown:
                continue
            if isinstance(req, Txn):
                self.seen.update(c.value for c in req.compares if c.target == "VALUE")
            for read, res, at in _reads(op):
                if getattr(read, "keys_only", False):
                    continue
                for kv in res.kvs:
                    self._put_at(kv)
                    spans.setdefault(kv.key, []).append((kv.mod_revision, at))
        for stream in watches:
            for resp in stream.responses:
                for e in resp.events:
                    self.seen.add(e.value)
                    self.hints.setdefault(e.mod_revision, set()).add(_fact(e))
                    if e.prev_kv is not None:
                        self._put_at(e.prev_kv)
                        spans.setdefault(e.key, []).append(
                            (e.prev_kv.mod_revision, e.mod_revision - 1))
        self.still = {key: _merge(v) for key, v in spans.items()}

    def _put_at(self, kv) -> None:
        self.seen.add(kv.value)
        self.hints.setdefault(kv.mod_revision, set()).add(
            ("PUT", kv.key, kv.value, kv.create_revision, kv.version))

    def agrees(self, revision: int, events) -> bool:
        """Could these events be what `revision` did?"""
        hint = self.hints.get(revision)
        if hint is not None and not hint <= {_fact(e) for e in events}:
            return False
        for e in events:
            spans = self.still.get(e.key)
            if spans:
                at = bisect_right(spans, (revision,)) - 1   # the last span starting below
                if at >= 0 and spans[at][0] < revision <= spans[at][1]:
                    return False
        return True


def _reads(op: Operation):
    """(read request, its RangeResponse, the revision it read at) for each read in a known op.
    A read inside a txn that bumped saw the store before the txn's write."""
    r, req = op.response, op.request
    if isinstance(req, READS) and isinstance(r, RangeResponse):
        yield req, r, req.revision or r.revision
    elif isinstance(req, Txn) and isinstance(r, TxnResponse):
        branch = req.on_success if r.succeeded else req.on_failure
        at = r.revision - 1 if bumped(op) else r.revision
        for o, res in zip(branch, r.results):
            if isinstance(o, READS) and isinstance(res, RangeResponse):
                yield o, res, at


def _merge(spans: list) -> list:
    out: list = []
    for lo, hi in sorted(spans):
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


class UnknownPolicy:
    """Facts of the whole history, indexed like the search's ops (`requests[j]`)."""

    def __init__(self, ops: Sequence[Operation], chosen: Sequence[int], requests: Sequence,
                 watches=(), strict_hints: bool = True):
        self.requests = requests
        self.strict_hints = strict_hints
        self.call_ns = [ops[i].call_ns for i in chosen]
        self.owned = {revision_of(ops[i]) for i in chosen
                      if not ops[i].unknown and bumped(ops[i])}
        self.lease_refs = [_lease_refs(r) for r in requests]
        needs = [_lease_needs(ops[i], requests[j]) for j, i in enumerate(chosen)]
        self.needs_present = [p for p, _ in needs]
        self.needs_absent = [a for _, a in needs]
        self.wants_compaction = [getattr(ops[i].response, "error", None) == ERR_COMPACTED
                                 for i in chosen]
        self.kind = [_kind(r) for r in requests]
        self.facts = _Observations(ops, watches)
        self.seen = [any(isinstance(o, Put) and o.value in self.facts.seen for o in
                         (r.on_success + r.on_failure if isinstance(r, Txn) else (r,)))
                     for r in requests]
        # Rule 4: unknown plain puts nobody saw, on the same key and lease, are interchangeable
        # (no response tells them apart), and so are unknown deletes of one key: try one each.
        self.twin_class = [("put", r.key, r.lease_id) if isinstance(r, Put) and not self.seen[j]
                           else ("del", r.key) if isinstance(r, Delete) else None
                           for j, r in enumerate(requests)]

    def allowed(self, state: model.State, known: Sequence[int], max_pre: Sequence[float],
                pending: Iterable[int]) -> list[int]:
        """The pending unknown ops worth trying at `state`, in the order to try them. `pending`
        is walked only when some rule could allow one."""
        gap = (state.revision + 1 not in self.owned
               and any(max_pre[j] > state.revision for j in known))
        present: set[int] = set()        # leases some known candidate needs to exist
        absent: set[int] = set()         # ... or to be gone
        for j in known:
            present |= self.needs_present[j]
            absent |= self.needs_absent[j]
        compaction = any(self.wants_compaction[j] for j in known)
        if not (gap or present or absent or compaction):
            return []
        unknown = list(pending)
        if gap:     # an unknown put with a lease may fill the gap once its lease is granted
            for j in unknown:
                if self.kind[j] == _WRITE:
                    present |= self.lease_refs[j]
        out, twins = [], set()
        for j in unknown:
            kind, request = self.kind[j], self.requests[j]
            if kind == _WRITE and not gap or kind == _COMPACT and not compaction:
                continue
            if isinstance(request, LeaseGrant) and (
                    request.lease_id in state.leases or request.lease_id not in present):
                continue
            if isinstance(request, LeaseRevoke) and (
                    request.lease_id not in state.leases
                    or not gap and request.lease_id not in absent):
                continue
            twin = self.twin_class[j]
            if twin is not None:
                if twin in twins:
                    continue
                twins.add(twin)
            _, new_state, events = model.apply(state, request)
            if new_state == state:
                continue
            if new_state.revision > state.revision:
                if not gap:
                    continue
                agrees = self.facts.agrees(new_state.revision, events)
                if self.strict_hints and not agrees:
                    continue
                out.append(((not agrees, not self.seen[j], -self.call_ns[j]), j))
            elif kind == _COMPACT or isinstance(request, LeaseGrant) \
                    or request.lease_id in absent:
                out.append(((False, not self.seen[j], -self.call_ns[j]), j))
        out.sort()
        return [j for _, j in out]

    def agrees(self, state: model.State, j: int, new_state: model.State) -> bool:
        """May a known op create this revision? (With strict hints, only if it makes the
        changes the responses pin there.)"""
        if not self.strict_hints or new_state.revision == state.revision \
                or new_state.revision not in self.facts.hints:
            return True
        return self.facts.agrees(new_state.revision, model.apply(state, self.requests[j])[2])


def _fact(e: Event) -> tuple:
    if e.type == "DELETE":
        return ("DELETE", e.key)
    return ("PUT", e.key, e.value, e.create_revision, e.version)
