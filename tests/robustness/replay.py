"""The store's past, revision by revision: the writes of a history replayed in one order.

Theory of operation: the linearizability search yields an order of the applied operations.
Replaying that order through the model (model.apply) gives every event at every revision, in
sub-revision order, with its prev_kv; from them we index, per key, the revisions at which it
changed. That answers "what did key K hold at revision R" and "which events happened between
R1 and R2", which the watch and historical-read checks compare against.

When no linearization is at hand (the search timed out), the union of the watch streams'
events is the other source (`from_events`); `extended` appends watch events beyond the last
linearized revision (trailing unknown-outcome writes that no read ever saw).

Nothing is known before the initial state's revision: earlier revisions answer as the initial
state.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from typing import Iterable, Sequence

from tests.robustness import model
from tests.robustness.history import (
    Compact, CompactResponse, Event, Get, KeyValue, Operation, Range, RangeResponse, in_range,
)


class Replay:
    def __init__(self, initial: model.State, events: Sequence[Event],
                 compactions: Sequence[int] = ()):
        self.initial = initial
        self.events = tuple(events)
        self.compactions = tuple(compactions)
        self.last_revision = max([initial.revision] + [e.mod_revision for e in self.events])
        self.max_compaction = max([initial.compact_revision, *self.compactions])
        self._revs: dict[str, list[int]] = {}
        self._kvs: dict[str, list[KeyValue | None]] = {}
        for key, ks in initial.kvs:
            self._revs[key] = [0]     # known from the start: nothing earlier is replayed
            self._kvs[key] = [KeyValue(key, ks.value, ks.mod_revision, ks.create_revision,
                                       ks.version)]
        for e in self.events:
            kv = None if e.type == "DELETE" else KeyValue(e.key, e.value, e.mod_revision,
                                                          e.create_revision, e.version)
            self._revs.setdefault(e.key, []).append(e.mod_revision)
            self._kvs.setdefault(e.key, []).append(kv)

    @classmethod
    def from_linearization(cls, ops: Sequence[Operation], order: Iterable[int],
                           initial: model.State | None = None) -> "Replay":
        state = initial or model.initial_state()
        events: list[Event] = []
        compactions = []
        for i in order:
            op = ops[i]
            request = model.resolve(op.request, op.response)
            response, state, evs = model.apply(state, request)
            events.extend(evs)
            if isinstance(request, Compact) and isinstance(response, CompactResponse):
                compactions.append(request.revision)
        return cls(initial or model.initial_state(), events, compactions)

    @classmethod
    def from_events(cls, events: Iterable[Event], initial: model.State | None = None,
                    compactions: Sequence[int] = ()) -> "Replay":
        """From watch events (several streams may repeat one event): prev_kv is recomputed."""
        return cls(initial or model.initial_state(), [], compactions).extended(events)

    def extended(self, events: Iterable[Event]) -> "Replay":
        """This replay plus the given events past its last revision, deduplicated by (revision,
        key), kept in the order first seen within a revision."""
        known = {(e.mod_revision, e.key) for e in self.events}
        extra = []
        for e in events:
            if e.mod_revision > self.last_revision and (e.mod_revision, e.key) not in known:
                known.add((e.mod_revision, e.key))
                extra.append(e)
        extra.sort(key=lambda e: e.mod_revision)   # stable: sub-revision order is kept
        latest = {key: kvs[-1] for key, kvs in self._kvs.items()}
        out = list(self.events)
        for e in extra:
            out.append(replace(e, prev_kv=latest.get(e.key)))
            latest[e.key] = None if e.type == "DELETE" else KeyValue(
                e.key, e.value, e.mod_revision, e.create_revision, e.version)
        return Replay(self.initial, out, self.compactions)

    def kv_at(self, key: str, revision: int) -> KeyValue | None:
        revs = self._revs.get(key)
        at = bisect_right(revs, revision) - 1 if revs else -1
        return self._kvs[key][at] if at >= 0 else None

    def read_at(self, request: Get | Range, revision: int) -> RangeResponse:
        """What a read answers at `revision` (its header revision is left 0: not known here)."""
        if isinstance(request, Get):
            kv = self.kv_at(request.key, revision)
            return RangeResponse(0, () if kv is None else (kv,), 0 if kv is None else 1)
        hits = [kv for key in sorted(self._revs) if in_range(key, request.key, request.range_end)
                for kv in [self.kv_at(key, revision)] if kv is not None]
        shown = hits[:request.limit] if request.limit > 0 else hits
        if request.keys_only:
            shown = [replace(kv, value="") for kv in shown]
        return RangeResponse(0, tuple(shown), len(hits))

    def events_between(self, low: int, high: int, key: str = "", range_end: str = "\0"
                       ) -> list[Event]:
        """Events with low <= revision <= high on the watched key range, in order."""
        return [e for e in self.events if low <= e.mod_revision <= high
                and in_range(e.key, key, range_end)]
