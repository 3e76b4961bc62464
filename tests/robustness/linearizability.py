"""Linearizability of a KV history against the etcd model (model.py), after porcupine.

Theory of operation (Wing & Gong, with Lowe's memoization, as in porcupine): every operation
becomes a call entry and a return entry, sorted by time (a call before a return at the same
instant, so touching operations count as concurrent). The search walks this list depth-first.
At each point the candidates are the operations whose call comes before the first pending
return; linearizing one means the model accepts its response, then both of its entries leave
the list. Reaching a pending return means that operation can no longer go first: backtrack.
A cache of (linearized bitset, model state) pairs prunes every configuration seen before.

Ops that leave the state as it is (reads, errors, deletes of nothing, txns that did not
write) are tried first and, when one fits, it is the only choice of its point: any valid order
stays valid with it moved there. Without this, k concurrent reads at one revision cost 2^k
configurations whenever the search backtracks past them.

Unknown outcomes (response None) have no return entry (return at +infinity): linearizing one
means it was applied; never linearizing it means it was not. The search succeeds once every
known operation is linearized. Unknown ops are tried after the known candidates of a point,
and only where they could be needed (unknown_ops.py: revisions are global and every response
names one, so an applied unknown write shows up as a revision no acknowledged write owns).
The search first insists that unknown writes agree with what reads and watches say each
revision did; if no order does, it retries without, to tell a KV violation from a watch one.

Left out of the search: serializable reads (stale by design; reads_check.py checks them
against the replay), reads and defragments of unknown outcome (they change nothing).

Measured (CPython 3.11, the shared 2-core box, tests/unit/history_sim.py): 5,000 ops from 8
clients on 10 keys (puts, deletes, gets, prefix ranges, CAS txns, leases, compactions,
historical reads, 3 watches) check in 0.4-0.8 s with 0, 2 or 10 % unknown outcomes; 20 %
unknown takes 1-3.5 s. A failing history costs two searches (strict, then loose).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from tests.robustness import model
from tests.robustness.history import (
    ERR_LEASE_EXISTS, ERR_LEASE_NOT_FOUND, READS, Defragment, DeleteResponse, ErrorResponse,
    History, Operation, PutResponse, RangeResponse, Txn, TxnResponse,
)
from tests.robustness.precheck import bumped, check_revisions, check_values, describe_op
from tests.robustness.unknown_ops import UnknownPolicy

_INF = float("inf")
_TIME_CHECK_EVERY = 512


@dataclass(frozen=True)
class Result:
    """ok: True linearizable, False not, None the search timed out.
    linearization: history indices in the order found (unknown-outcome ops appear only if they
    were applied); when not ok, the longest linearizable prefix the search reached.
    failed_op: the history index of the op that could not be linearized, if known."""
    ok: bool | None
    explanation: str
    linearization: tuple[int, ...]
    failed_op: int | None
    elapsed_s: float


def _included(op: Operation) -> bool:
    req = op.request
    if isinstance(req, READS):
        return not req.serializable and not op.unknown
    if isinstance(req, Defragment):
        return False
    if isinstance(req, Txn) and op.unknown:
        return any(not isinstance(o, READS) for o in req.on_success + req.on_failure)
    return True


def _may_change(op: Operation) -> bool:
    r = op.response
    if isinstance(r, (RangeResponse, ErrorResponse)):
        return False
    if isinstance(r, DeleteResponse):
        return r.deleted > 0
    if isinstance(r, TxnResponse):
        return bumped(op)
    return True


def _max_pre_revision(op: Operation) -> float:
    """The highest model revision at which this known op could be linearized. Used to decide
    whether an unknown write may be needed before it."""
    r = op.response
    if isinstance(r, ErrorResponse):
        # Only a missing or present lease can be fixed by applying unknown ops (a revoke may
        # bump); the other model errors cannot be caused by a higher revision.
        return _INF if r.error in (ERR_LEASE_NOT_FOUND, ERR_LEASE_EXISTS) else -1
    if isinstance(r, (PutResponse, DeleteResponse, TxnResponse)):
        return r.revision - (1 if bumped(op) else 0)
    revision = getattr(r, "revision", None)
    return -1 if revision is None else revision


class _Links:
    """A doubly linked list over nodes 0..n-1 in order, with a head sentinel (node n), from
    which nodes are unlinked and relinked in LIFO order (Knuth's dancing links)."""

    def __init__(self, n: int):
        self.head = n
        self.nxt = [i + 1 for i in range(n - 1)] + [-1] * (n > 0) + [0 if n else -1]
        self.prv = [n] * (n > 0) + [i for i in range(n - 1)] + [-1]

    def unlink(self, node: int) -> None:
        nxt, prv = self.nxt, self.prv
        nxt[prv[node]] = nxt[node]
        if nxt[node] != -1:
            prv[nxt[node]] = prv[node]

    def relink(self, node: int) -> None:
        nxt, prv = self.nxt, self.prv
        nxt[prv[node]] = node
        if nxt[node] != -1:
            prv[nxt[node]] = node


class _Search:
    def __init__(self, ops: Sequence[Operation], chosen: list[int], initial: model.State,
                 watches=(), strict_hints: bool = True):
        self.ops, self.chosen, self.initial = ops, chosen, initial
        n = len(chosen)
        self.known = [not ops[i].unknown for i in chosen]
        self.request = [model.resolve(ops[i].request, ops[i].response) for i in chosen]
        self.response = [ops[i].response for i in chosen]
        self.max_pre = [_max_pre_revision(ops[i]) if self.known[j] else -1
                        for j, i in enumerate(chosen)]
        # Can this known op change the model state? Its response says: reads, errors, deletes
        # of nothing and txns that did not bump leave it as it was.
        self.may_change = [self.known[j] and _may_change(ops[i]) for j, i in enumerate(chosen)]
        self.policy = UnknownPolicy(ops, chosen, self.request, watches, strict_hints)
        # Known ops' call and return entries, in time order (calls first at equal times).
        entries = sorted([(ops[i].call_ns, 0, j) for j, i in enumerate(chosen) if self.known[j]]
                         + [(ops[i].return_ns, 1, j) for j, i in enumerate(chosen)
                            if self.known[j]])
        self.entries = _Links(len(entries))
        self.node_time = [t for t, _, _ in entries]
        self.node_op = [j for _, _, j in entries]
        self.node_call = [kind == 0 for _, kind, _ in entries]
        self.call_node = [-1] * n
        self.ret_node = [-1] * n
        for node, (_, kind, j) in enumerate(entries):
            (self.call_node if kind == 0 else self.ret_node)[j] = node
        # Unknown ops never return: they sit in their own list, by call time, so that the scan
        # for the next known candidates does not walk past every pending one of them.
        self.unknown_ops = sorted((j for j in range(n) if not self.known[j]),
                                  key=lambda j: ops[chosen[j]].call_ns)
        self.unknown_call = [ops[chosen[j]].call_ns for j in self.unknown_ops]
        self.unknown_node = [-1] * n
        for node, j in enumerate(self.unknown_ops):
            self.unknown_node[j] = node
        self.unknowns = _Links(len(self.unknown_ops))

    def _lift(self, j: int) -> None:
        if self.known[j]:
            self.entries.unlink(self.call_node[j])
            self.entries.unlink(self.ret_node[j])
        else:
            self.unknowns.unlink(self.unknown_node[j])

    def _unlift(self, j: int) -> None:
        # Dancing links: restore in the reverse order of removal.
        if self.known[j]:
            self.entries.relink(self.ret_node[j])
            self.entries.relink(self.call_node[j])
        else:
            self.unknowns.relink(self.unknown_node[j])

    def _pending_unknown(self, until_ns: float):
        """Unknown ops not yet linearized, called no later than `until_ns`."""
        links, node = self.unknowns, self.unknowns.nxt[self.unknowns.head]
        while node != -1 and self.unknown_call[node] <= until_ns:
            yield self.unknown_ops[node]
            node = links.nxt[node]

    def _candidates(self, state: model.State) -> tuple[list[int], int]:
        """Ops that may go next (known ones first), and the op whose return bounds them."""
        known, changing = [], []
        links, node = self.entries, self.entries.nxt[self.entries.head]
        while node != -1 and self.node_call[node]:
            j = self.node_op[node]
            (changing if self.may_change[j] else known).append(j)
            node = links.nxt[node]
        known += changing     # those that keep the state first: they are forced (see run)
        if node == -1:
            return known, -1
        if self.unknown_ops:
            known.extend(self.policy.allowed(state, known, self.max_pre,
                                             self._pending_unknown(self.node_time[node])))
        return known, self.node_op[node]

    def run(self, deadline: float) -> tuple[bool | None, dict]:
        n_known = sum(self.known)
        remaining = n_known
        state, linearized = self.initial, 0
        cache: set = set()
        chain = None            # persistent list (op, parent) of the current prefix
        cands, blocking = self._candidates(state)
        frame_pos = 0
        stack: list = []        # (cands, blocking, pos, op, state before, chain before)
        best = {"depth": -1}
        steps = 0
        while True:
            if remaining == 0:
                return True, {"chain": chain}
            depth = n_known - remaining
            if depth > best["depth"]:
                best = {"depth": depth, "chain": chain, "state": state, "cands": cands,
                        "blocking": blocking}
            advanced = False
            while frame_pos < len(cands):
                j = cands[frame_pos]
                frame_pos += 1
                steps += 1
                if steps % _TIME_CHECK_EVERY == 0 and time.monotonic() > deadline:
                    return None, best
                if self.known[j]:
                    ok, new_state = model.step(state, self.request[j], self.response[j])
                    if not ok or not self.policy.agrees(state, j, new_state):
                        continue
                else:
                    new_state = model.step_unknown(state, self.request[j])[-1]
                    if new_state == state:
                        continue   # applying it changes nothing: same as leaving it out
                forced = new_state is state or new_state == state
                key = (linearized | (1 << j), new_state)
                if key in cache:
                    if forced:
                        frame_pos = len(cands)   # explored, and it dominates the other choices
                    continue
                cache.add(key)
                # An op that leaves the state as it is and fits now can go now: any order that
                # places it later stays valid with it moved here (it changes nothing the ops in
                # between see, and its own response fits). So this frame has no other choice to
                # try, which spares the search every interleaving of concurrent reads.
                stack.append((cands, blocking, len(cands) if forced else frame_pos, j, state,
                              chain))
                self._lift(j)
                linearized = key[0]
                state = new_state
                chain = (j, chain)
                remaining -= self.known[j]
                cands, blocking = self._candidates(state)
                frame_pos = 0
                advanced = True
                break
            if advanced:
                continue
            if not stack:
                return False, best
            cands, blocking, frame_pos, j, state, chain = stack.pop()
            self._unlift(j)
            linearized &= ~(1 << j)
            remaining += self.known[j]

    def order(self, chain) -> tuple[int, ...]:
        out = []
        while chain is not None:
            out.append(self.chosen[chain[0]])
            chain = chain[1]
        return tuple(reversed(out))


def _explain(search: _Search, best: dict, t0: int, timed_out: bool) -> tuple[str, int | None]:
    ops = search.ops
    prefix = search.order(best.get("chain"))
    total = sum(search.known)
    lines = ["search timed out" if timed_out else
             "not linearizable: no order of the operations explains every response",
             f"longest linearizable prefix: {best['depth']} of {total} acknowledged operations"
             f" ({len(prefix)} ops including applied unknown-outcome ones)"]
    failed = None
    if best.get("state") is not None:
        state = best["state"]
        lines.append(f"model state after it: {model.describe(state)}")
        if best["blocking"] != -1:
            failed = search.chosen[best["blocking"]]
            lines.append("op that could not be linearized (it had to take effect before it "
                         f"returned): {describe_op(failed, ops[failed], t0)}")
        lines.append("ops that could have gone next, and what the model would have answered:")
        for j in best["cands"]:
            i = search.chosen[j]
            expected, _, _ = model.apply(state, search.request[j])
            lines.append(f"  {describe_op(i, ops[i], t0)}\n      model: {expected!r}")
        if prefix:
            lines.append("last ops of the prefix:")
            lines.extend(f"  {describe_op(i, ops[i], t0)}" for i in prefix[-5:])
    return "\n".join(lines), failed


def check(history: History | Sequence[Operation], timeout_s: float = 300.0,
          initial: model.State | None = None) -> Result:
    """Is the history linearizable? `initial` is the store before the first op (default:
    an empty etcd at revision 1)."""
    started = time.monotonic()
    if isinstance(history, History):
        ops, watches = history.operations, history.watches
    else:
        ops, watches = tuple(history), ()
    initial = initial or model.initial_state()
    t0 = min((op.call_ns for op in ops), default=0)
    problems = check_revisions(ops) + check_values(ops, (ks.value for _, ks in initial.kvs))
    if problems:
        return Result(False, "\n".join(msg for _, msg in problems), (), problems[0][0],
                      time.monotonic() - started)
    chosen = [i for i, op in enumerate(ops) if _included(op)]
    deadline = started + timeout_s
    search = _Search(ops, chosen, initial, watches, strict_hints=True)
    ok, info = search.run(deadline)
    note = ""
    if ok is False:
        # No order agrees with what the responses say each revision did. Is there an order
        # for the KV responses alone? Then the watch and read checks will show the discord.
        loose = _Search(ops, chosen, initial, watches, strict_hints=False)
        loose_ok, loose_info = loose.run(deadline)
        if loose_ok is None:
            note = ("\n(a search ignoring what reads and watches say each revision did timed "
                    "out: whether the KV responses alone are linearizable is not known)")
        else:
            search, ok, info = loose, loose_ok, loose_info
            if ok:
                note = (": but only in an order that disagrees with what some read, watch "
                        "event or prev_kv says a revision did; the replay checks show where")
    elapsed = time.monotonic() - started
    if ok:
        return Result(True, f"linearizable ({len(chosen)} ops, {elapsed:.3f} s){note}",
                      search.order(info["chain"]), None, elapsed)
    explanation, failed = _explain(search, info, t0, timed_out=ok is None)
    return Result(ok, explanation + note, search.order(info.get("chain")), failed, elapsed)
