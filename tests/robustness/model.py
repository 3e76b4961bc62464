"""etcd's key-value store as an immutable state machine, for the linearizability checker.

Theory of operation: a `State` is the present of the store (revision, compact revision, each
live key with its value, mod/create revision, version and lease, and the live leases). It is
frozen and hashable, so the checker can memoize (linearized set, state) pairs. `apply` runs one
request the way etcd 3.4 would and returns the response etcd would give, the next state, and
the watch events it produced. `step` checks an observed response against that.

Revision rules (etcd's mvcc): a write transaction bumps the revision once iff it changed
something. A Put always changes; a Delete only if the key existed; a Txn once if its executed
branch changed anything (a branch of reads, or of deletes of absent keys, keeps the revision);
a LeaseRevoke deletes its attached keys in one revision (bump iff any); LeaseGrant, Compact and
Defragment never bump. Compact(r) fails with "compacted" if r <= compact revision and "future
revision" if r > revision. A read at revision R fails with "future revision" if R > revision and
"compacted" if R < compact revision.

Historical reads: the state holds only the present, so a read at 0 < R < revision is checked
here only for its errors and header revision; its content is checked afterwards against a
replay of the writes in linearization order (replay.py, reads_check.py), as etcd's model does.

Unknown outcomes: `apply` is deterministic, so an op with unknown outcome has exactly two
successors: not applied (the same state) or applied (apply's state). The checker chooses.

Leases never expire here: the model has no clock. Workloads must use TTLs longer than the run.
"""
from __future__ import annotations

from dataclasses import dataclass

from tests.robustness.history import (
    ERR_COMPACTED, ERR_FUTURE_REV, ERR_LEASE_EXISTS, ERR_LEASE_NOT_FOUND, Compact, Compare,
    CompactResponse, Defragment, DefragmentResponse, Delete, DeleteResponse, ErrorResponse,
    Event, Get, KeyValue, LeaseGrant, LeaseGrantResponse, LeaseRevoke, LeaseRevokeResponse, Put,
    PutResponse, Range, RangeResponse, Request, Response, Txn, TxnResponse, in_range,
)


@dataclass(frozen=True, slots=True)
class KeyState:
    value: str
    mod_revision: int
    create_revision: int
    version: int
    lease_id: int = 0


@dataclass(frozen=True, slots=True)
class State:
    """kvs is sorted by key, so equal stores compare and hash equal."""
    revision: int = 1   # an empty etcd answers at revision 1; the first write makes 2
    compact_revision: int = 0
    kvs: tuple[tuple[str, KeyState], ...] = ()
    leases: frozenset[int] = frozenset()

    def get(self, key: str) -> KeyState | None:
        for k, ks in self.kvs:
            if k == key:
                return ks
        return None


def initial_state() -> State:
    return State()


def describe(state: State) -> str:
    keys = ", ".join(f"{k}={ks.value!r}(mod {ks.mod_revision}, create {ks.create_revision}, "
                     f"ver {ks.version}{f', lease {ks.lease_id}' if ks.lease_id else ''})"
                     for k, ks in state.kvs)
    leases = f"; leases {sorted(state.leases)}" if state.leases else ""
    return (f"revision {state.revision}, compact revision {state.compact_revision}; "
            f"keys: {keys or '(none)'}{leases}")


def _kv(key: str, ks: KeyState, keys_only: bool = False) -> KeyValue:
    return KeyValue(key, "" if keys_only else ks.value, ks.mod_revision, ks.create_revision,
                    ks.version)


def _read(kvs: dict[str, KeyState], request, revision: int) -> RangeResponse:
    if isinstance(request, Get):
        ks = kvs.get(request.key)
        found = () if ks is None else (_kv(request.key, ks),)
        return RangeResponse(revision, found, len(found))
    hits = sorted((k, ks) for k, ks in kvs.items()
                  if in_range(k, request.key, request.range_end))
    shown = hits[:request.limit] if request.limit > 0 else hits
    return RangeResponse(revision, tuple(_kv(k, ks, request.keys_only) for k, ks in shown),
                         len(hits))


def _compare(kvs: dict[str, KeyState], c: Compare) -> bool:
    ks = kvs.get(c.key)
    if ks is None:
        if c.target == "VALUE":
            return False    # etcd: a value compare against a missing key always fails
        have = 0
    else:
        have = {"VALUE": ks.value, "MOD": ks.mod_revision, "CREATE": ks.create_revision,
                "VERSION": ks.version, "LEASE": ks.lease_id}[c.target]
    if c.op == "=":
        return have == c.value
    if c.op == "!=":
        return have != c.value
    if c.op == ">":
        return have > c.value
    if c.op == "<":
        return have < c.value
    raise ValueError(f"unknown compare op {c.op!r}")


class _Writer:
    """One write transaction at revision `rev`: mutates a dict copy of the keys, records events
    in sub-revision order (the order watchers see them)."""

    def __init__(self, state: State, events: list | None):
        self.kvs = dict(state.kvs)
        self.rev = state.revision + 1
        self.changed = False
        self.events = events

    def put(self, key: str, value: str, lease_id: int) -> None:
        prev = self.kvs.get(key)
        ks = (KeyState(value, self.rev, prev.create_revision, prev.version + 1, lease_id) if prev
              else KeyState(value, self.rev, self.rev, 1, lease_id))
        self.kvs[key] = ks
        self.changed = True
        if self.events is not None:
            self.events.append(Event("PUT", key, value, self.rev, ks.create_revision, ks.version,
                                     _kv(key, prev) if prev else None))

    def delete(self, key: str) -> int:
        prev = self.kvs.pop(key, None)
        if prev is None:
            return 0
        self.changed = True
        if self.events is not None:
            self.events.append(Event("DELETE", key, "", self.rev, 0, 0, _kv(key, prev)))
        return 1

    def state(self, base: State, leases: frozenset[int] | None = None) -> State:
        if not self.changed and leases is None:
            return base
        return State(self.rev if self.changed else base.revision, base.compact_revision,
                     tuple(sorted(self.kvs.items())) if self.changed else base.kvs,
                     base.leases if leases is None else leases)

    @property
    def revision(self) -> int:
        return self.rev if self.changed else self.rev - 1


def _txn(state: State, request: Txn, events: list | None) -> tuple[Response, State]:
    w = _Writer(state, events)
    succeeded = all(_compare(w.kvs, c) for c in request.compares)
    branch = request.on_success if succeeded else request.on_failure
    # etcd checks the branch's leases before executing any of it: the whole txn fails.
    if any(isinstance(op, Put) and op.lease_id and op.lease_id not in state.leases
           for op in branch):
        return ErrorResponse(ERR_LEASE_NOT_FOUND), state
    results = []
    for op in branch:
        if isinstance(op, Put):
            w.put(op.key, op.value, op.lease_id)
            results.append(PutResponse(w.rev))
        elif isinstance(op, Delete):
            results.append(DeleteResponse(w.rev, w.delete(op.key)))
        else:
            if op.revision:
                raise ValueError("reads at a revision inside a txn are not modelled")
            results.append(_read(w.kvs, op, w.rev))   # sees the txn's own earlier writes
    return TxnResponse(w.revision, succeeded, tuple(results)), w.state(state)


def _range(state: State, request: Get | Range) -> Response:
    r = request.revision
    if r > state.revision:
        return ErrorResponse(ERR_FUTURE_REV)
    if 0 < r < state.compact_revision:
        return ErrorResponse(ERR_COMPACTED)
    if r in (0, state.revision):
        return _read(dict(state.kvs), request, state.revision)
    return RangeResponse(state.revision, (), 0)    # historical: content checked by replay


def _apply(state: State, request: Request, events: list | None) -> tuple[Response, State]:
    if isinstance(request, (Get, Range)):
        return _range(state, request), state
    if isinstance(request, Put):
        if request.lease_id and request.lease_id not in state.leases:
            return ErrorResponse(ERR_LEASE_NOT_FOUND), state
        w = _Writer(state, events)
        w.put(request.key, request.value, request.lease_id)
        return PutResponse(w.rev), w.state(state)
    if isinstance(request, Delete):
        w = _Writer(state, events)
        deleted = w.delete(request.key)
        return DeleteResponse(w.revision, deleted), w.state(state)
    if isinstance(request, Txn):
        return _txn(state, request, events)
    if isinstance(request, LeaseGrant):
        if request.lease_id == 0:
            # The server chose an id we never learned: nobody can use it, so it changes nothing.
            return LeaseGrantResponse(state.revision, 0), state
        if request.lease_id in state.leases:
            return ErrorResponse(ERR_LEASE_EXISTS), state
        return (LeaseGrantResponse(state.revision, request.lease_id),
                State(state.revision, state.compact_revision, state.kvs,
                      state.leases | {request.lease_id}))
    if isinstance(request, LeaseRevoke):
        if request.lease_id not in state.leases:
            return ErrorResponse(ERR_LEASE_NOT_FOUND), state
        w = _Writer(state, events)
        for key, ks in state.kvs:           # sorted: etcd revokes attached keys in key order
            if ks.lease_id == request.lease_id:
                w.delete(key)
        return (LeaseRevokeResponse(w.revision),
                w.state(state, state.leases - {request.lease_id}))
    if isinstance(request, Compact):
        if request.revision <= state.compact_revision:
            return ErrorResponse(ERR_COMPACTED), state
        if request.revision > state.revision:
            return ErrorResponse(ERR_FUTURE_REV), state
        return (CompactResponse(state.revision),
                State(state.revision, request.revision, state.kvs, state.leases))
    if isinstance(request, Defragment):
        return DefragmentResponse(), state
    raise TypeError(f"not a request: {request!r}")


def resolve(request: Request, response: Response | None) -> Request:
    """The request as the server executed it: a LeaseGrant with id 0 gets the granted id."""
    if (isinstance(request, LeaseGrant) and request.lease_id == 0
            and isinstance(response, LeaseGrantResponse)):
        return LeaseGrant(response.lease_id, request.ttl_s)
    return request


def apply(state: State, request: Request) -> tuple[Response, State, tuple[Event, ...]]:
    """What etcd does with `request` in `state`: its response, the next state, its events."""
    events: list[Event] = []
    response, new_state = _apply(state, request, events)
    return response, new_state, tuple(events)


def _same_result(expected, got) -> bool:
    if type(expected) is not type(got):
        return False
    if isinstance(got, RangeResponse):
        return expected.kvs == got.kvs and expected.count == got.count
    if isinstance(got, DeleteResponse):
        return expected.deleted == got.deleted
    return True


def matches(request: Request, state: State, expected: Response, got: Response) -> bool:
    """Does the observed response `got` agree with what the model `expected` in `state`?"""
    if type(expected) is not type(got):
        return False
    if isinstance(got, RangeResponse) and request.revision not in (0, state.revision):
        return got.revision == expected.revision
    if isinstance(got, TxnResponse):
        return (got.revision == expected.revision and got.succeeded == expected.succeeded
                and len(got.results) == len(expected.results)
                and all(map(_same_result, expected.results, got.results)))
    return expected == got


def step(state: State, request: Request, response: Response) -> tuple[bool, State]:
    """Linearize `request` with its observed `response` now: (does it fit, next state)."""
    request = resolve(request, response)
    expected, new_state = _apply(state, request, None)
    return matches(request, state, expected, response), new_state


def step_unknown(state: State, request: Request) -> tuple[State, ...]:
    """The states an op of unknown outcome may leave: not applied, or applied."""
    _, applied = _apply(state, request, None)
    return (state,) if applied == state else (state, applied)
