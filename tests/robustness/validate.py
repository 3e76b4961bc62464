"""All the history checks of one run, in etcd's order: linearizability first, then, only on a
linearizable history (its order is what the others trust), the replay-based checks: watch
guarantees and reads that the search does not judge (serializable or at a past revision)."""
from __future__ import annotations

from dataclasses import dataclass

from tests.robustness import model
from tests.robustness.history import Delete, Event, History, LeaseRevoke, Put, Txn
from tests.robustness.linearizability import Result, check
from tests.robustness.reads_check import check_reads
from tests.robustness.replay import Replay
from tests.robustness.watch_check import check_watches


def _could_make(requests, event: Event) -> bool:
    for req in requests:
        ops = req.on_success + req.on_failure if isinstance(req, Txn) else (req,)
        for op in ops:
            if event.type == "PUT" and isinstance(op, Put) and (op.key, op.value) == (
                    event.key, event.value):
                return True
            if event.type == "DELETE" and (isinstance(op, LeaseRevoke) or (
                    isinstance(op, Delete) and op.key == event.key)):
                return True
    return False


@dataclass(frozen=True)
class Report:
    linearizability: Result
    violations: tuple[str, ...]     # watch and read findings (empty unless linearizable)
    replay: Replay | None

    @property
    def ok(self) -> bool | None:
        """True: all passed; False: a violation; None: the search timed out."""
        if self.linearizability.ok is not True:
            return self.linearizability.ok
        return not self.violations

    def explain(self) -> str:
        return "\n".join([self.linearizability.explanation, *self.violations])


def validate(history: History, timeout_s: float = 300.0,
             initial: model.State | None = None) -> Report:
    result = check(history, timeout_s, initial)
    if result.ok is not True:
        return Report(result, (), None)
    # Writes of unknown outcome after the last acknowledged revision may have been applied
    # with only watches seeing them: take from the watch events those, and only those, that
    # such a write could have made (a watch inventing events must still be caught).
    replay = Replay.from_linearization(history.operations, result.linearization, initial)
    applied = set(result.linearization)
    unapplied = [op.request for i, op in enumerate(history.operations)
                 if op.unknown and i not in applied]
    replay = replay.extended(e for s in history.watches for r in s.responses for e in r.events
                             if _could_make(unapplied, e))
    violations = check_watches(history.watches, replay) + check_reads(history.operations, replay)
    return Report(result, tuple(violations), replay)
