"""A correct etcd, simulated, for testing the robustness checkers: clients with one request in
flight each, every request taking effect at a random instant inside its [call, return] window
(later, for some of unknown outcome), on a tiny in-memory store written apart from
tests/robustness/model.py so the two check each other. Seeded: the same seed, the same history.
"""
from __future__ import annotations

import random
from dataclasses import replace
from dataclasses import dataclass, field

from tests.robustness.history import (
    ERR_COMPACTED, ERR_FUTURE_REV, ERR_LEASE_NOT_FOUND, Compact, CompactResponse, Compare, Delete,
    DeleteResponse, ErrorResponse, Event, Get, History, KeyValue, LeaseGrant, LeaseGrantResponse,
    LeaseRevoke, LeaseRevokeResponse, Operation, Put, PutResponse, Range, RangeResponse, Txn,
    TxnResponse, WatchRequest, WatchResponse, WatchStream, in_range, prefix_end,
)

MS = 1_000_000


@dataclass
class RefStore:
    """key -> [value, mod, create, version, lease]; events[i] lists the events of revision i."""
    rev: int = 1
    compacted: int = 0
    kv: dict = field(default_factory=dict)
    leases: set = field(default_factory=set)
    events: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)   # revision -> {key: KeyValue}

    def _kvs(self, key, end):
        keys = sorted(k for k in self.kv if (k == key if not end else key <= k < end))
        return [KeyValue(k, *self.kv[k][:4]) for k in keys]

    def _write(self, changes):
        """changes: list of ("put", key, value, lease) / ("del", key); one revision if any."""
        evs, new = [], self.rev + 1
        for ch in changes:
            old = self.kv.get(ch[1])
            prev = KeyValue(ch[1], *old[:4]) if old else None
            if ch[0] == "put":
                ver = old[3] + 1 if old else 1
                create = old[2] if old else new
                self.kv[ch[1]] = [ch[2], new, create, ver, ch[3]]
                evs.append(Event("PUT", ch[1], ch[2], new, create, ver, prev))
            elif old:
                del self.kv[ch[1]]
                evs.append(Event("DELETE", ch[1], "", new, 0, 0, prev))
        if evs:
            self.rev = new
            self.events[new] = evs
            self.snapshots[new] = {k: KeyValue(k, *v[:4]) for k, v in self.kv.items()}
        return bool(evs)

    def read(self, req, rev):
        snap = self.snapshots.get(rev, {}) if rev != self.rev else {
            k: KeyValue(k, *v[:4]) for k, v in self.kv.items()}
        if isinstance(req, Get):
            found = tuple(kv for k, kv in snap.items() if k == req.key)
            return RangeResponse(self.rev, found, len(found))
        hits = [snap[k] for k in sorted(snap) if req.key <= k < req.range_end]
        return RangeResponse(self.rev, tuple(hits), len(hits))

    def execute(self, req):
        if isinstance(req, (Get, Range)):
            if req.revision > self.rev:
                return ErrorResponse(ERR_FUTURE_REV)
            if req.revision and req.revision < self.compacted:
                return ErrorResponse(ERR_COMPACTED)
            return self.read(req, req.revision or self.rev)
        if isinstance(req, Put):
            if req.lease_id and req.lease_id not in self.leases:
                return ErrorResponse(ERR_LEASE_NOT_FOUND)
            self._write([("put", req.key, req.value, req.lease_id)])
            return PutResponse(self.rev)
        if isinstance(req, Delete):
            deleted = 1 if self._write([("del", req.key)]) else 0
            return DeleteResponse(self.rev, deleted)
        if isinstance(req, Txn):
            c = req.compares[0]
            cur = self.kv.get(c.key)
            ok = (cur[1] if cur else 0) == c.value    # the sim only uses MOD "="
            branch = req.on_success if ok else req.on_failure
            results, changes = [], []
            for op in branch:
                if isinstance(op, Put):
                    changes.append(("put", op.key, op.value, 0))
                    results.append(PutResponse(0))
                else:   # the sim's txn reads come before its writes
                    results.append(self.read(op, self.rev))
            self._write(changes)
            return TxnResponse(self.rev, ok, tuple(results))
        if isinstance(req, LeaseGrant):
            self.leases.add(req.lease_id)
            return LeaseGrantResponse(self.rev, req.lease_id)
        if isinstance(req, LeaseRevoke):
            if req.lease_id not in self.leases:
                return ErrorResponse(ERR_LEASE_NOT_FOUND)
            self.leases.discard(req.lease_id)
            self._write([("del", k) for k in sorted(self.kv) if self.kv[k][4] == req.lease_id])
            return LeaseRevokeResponse(self.rev)
        if isinstance(req, Compact):
            if req.revision <= self.compacted:
                return ErrorResponse(ERR_COMPACTED)
            if req.revision > self.rev:
                return ErrorResponse(ERR_FUTURE_REV)
            self.compacted = req.revision
            return CompactResponse(self.rev)
        raise TypeError(req)


def _request(rng: random.Random, client: int, n: int, store: RefStore, keys, lease_ops: bool):
    key = rng.choice(keys)
    value = f"v{client}.{n}"
    x = rng.random()
    if x < 0.35:
        if lease_ops and rng.random() < 0.2 and store.leases:
            return Put(key, value, rng.choice(sorted(store.leases)))
        return Put(key, value)
    if x < 0.6:
        return Get(key)
    if x < 0.68:
        return Range("k", prefix_end("k"))
    if x < 0.76:
        return Delete(key)
    if x < 0.9:
        cur = store.kv.get(key)    # CAS on what the client believes the mod revision is
        return Txn((Compare(key, "MOD", "=", cur[1] if cur else 0),), (Put(key, value),),
                   (Get(key),))
    if x < 0.93:
        return Get(key, revision=max(1, store.rev - rng.randrange(5)))
    if lease_ops and x < 0.96:
        lease = client * 1000 + n
        return LeaseGrant(lease, 3600) if rng.random() < 0.6 or not store.leases else \
            LeaseRevoke(rng.choice(sorted(store.leases)))
    if x < 0.97:
        return Compact(max(1, store.rev - 3))
    return Get(key)


def simulate(seed: int, n_ops: int = 300, clients: int = 8, n_keys: int = 10,
             unknown_rate: float = 0.02, lease_ops: bool = True, watches: int = 3) -> History:
    return simulate_with_truth(seed, n_ops, clients, n_keys, unknown_rate, lease_ops,
                               watches)[0]


def simulate_with_truth(seed: int, n_ops: int = 300, clients: int = 8, n_keys: int = 10,
                        unknown_rate: float = 0.02, lease_ops: bool = True, watches: int = 3
                        ) -> tuple[History, list[int]]:
    """The history, and the indices of its applied ops in the order they took effect."""
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(n_keys)]
    store = RefStore()
    # Each client issues ops back to back; pick each op's window, then its instant of effect.
    plan = []     # (effect_ns, client, call_ns, return_ns, unknown, applies)
    per_client = n_ops // clients
    for c in range(clients):
        t = rng.randrange(0, 5 * MS)
        for _ in range(per_client):
            dur = rng.randrange(MS // 2, 20 * MS)
            unknown = rng.random() < unknown_rate
            applies = not unknown or rng.random() < 0.5
            late = 3 if unknown else 1     # an unknown op may take effect after its client gave up
            plan.append((t + rng.randrange(0, dur * late), c, t, t + dur, unknown, applies))
            t += dur + rng.randrange(0, 3 * MS)
    plan.sort()
    ops, counters, applied = [], [0] * clients, []
    for effect, c, call, ret, unknown, applies in plan:
        counters[c] += 1
        req = _request(rng, c, counters[c], store, keys, lease_ops)
        resp = store.execute(req) if applies else None
        if applies:
            applied.append(len(ops))
        if unknown:
            resp, ret = None, None
        ops.append(Operation(c, call, ret, req, resp))
    by_call = sorted(range(len(ops)), key=lambda i: ops[i].call_ns)
    position = {old: new for new, old in enumerate(by_call)}
    history = History(tuple(ops[i] for i in by_call),
                      tuple(_watch(rng, store, keys) for _ in range(watches)))
    return history, [position[i] for i in applied]


def _watch(rng: random.Random, store: RefStore, keys) -> WatchStream:
    prefix = rng.random() < 0.5
    key = "k" if prefix else rng.choice(keys)
    end = prefix_end(key) if prefix else ""
    start = rng.choice([0, rng.randrange(1, store.rev + 1)])
    created_at = rng.randrange(1, store.rev + 1)
    first = start or created_at + 1
    req = WatchRequest(key, end, start, prev_kv=rng.random() < 0.5, progress_notify=True)
    responses = [WatchResponse((), created_at, created=True)]
    for rev in range(first, store.rev + 1):
        evs = tuple(e if req.prev_kv else replace(e, prev_kv=None)
                    for e in store.events.get(rev, ()) if in_range(e.key, key, end))
        if evs:
            responses.append(WatchResponse(evs, rev))
        if rng.random() < 0.05:
            responses.append(WatchResponse((), rev, progress_notify=True))
    return WatchStream(req, tuple(responses))
