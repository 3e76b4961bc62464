"""The invariant checker: Raft's safety properties, checked incrementally after every step.

Theory of operation: the checker keeps a few global maps, each fed as things happen, so every
check is O(1) per event (or O(new entries)); nothing ever rescans a log.

- `leaders`: term -> the one node that led it (election safety, paper 5.2).
- `log`: (index, term) -> (type, data, prev_term) for every entry any Ready asked to persist.
  Two entries with the same index and term must agree on their content and on the term of the
  entry before them; by induction, logs that share an (index, term) share the whole prefix
  (log matching, paper 5.3).
- `committed_terms` / `committed_entries`: index -> what is known committed there, from every
  node's commit index, applied entries and snapshots. Committed entries never change.
- `max_commit`: the highest commit index any node ever knew. A new leader's log must hold it
  with the same term (leader completeness, paper 5.4); a ReadState must not be below the value it
  had when the read was asked (linearizable reads, thesis 6.4).
- `digests`: index -> the state machine digest after applying that index. Every node applies
  index after index with no gap or repeat (per incarnation), and must reach the same digest
  (state machine safety); a snapshot's data must match the digest at its index.
- `confs`: index -> the ConfState that applying a conf change left there; everyone agrees, and a
  snapshot's ConfState is the one in force at its index.
- `payload_index`: payload -> the index where it was first applied. A payload applied anywhere is
  acknowledged: at the end every member of the final config must hold it.

A violation raises `InvariantViolation` with a message that names the node, index and terms.
"""
from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from petcd.common.types import ConfState, Entry, Snapshot
from petcd.stages.raft.core import ReadState, Ready, StateType
from petcd.stages.raft.core.errors import Compacted
from .state_machine import StateMachine, _EMPTY_DIGEST

if TYPE_CHECKING:
    from .node import SimNode


class InvariantViolation(AssertionError):
    pass


class _NodeView:
    """What the checker remembers about one node's current incarnation."""
    __slots__ = ("applied", "commit", "leader_term", "term", "votes")

    def __init__(self, applied: int, commit: int, term: int, vote: int) -> None:
        self.applied = applied      # last index this incarnation applied (or restored)
        self.commit = commit        # last commit index seen
        self.leader_term = 0        # last term in which we saw it lead
        self.term = term            # highest term seen in its Readies
        self.votes = {term: vote}   # term -> vote, from its Readies


class Checker:
    def __init__(self, bootstrap_index: int, bootstrap_term: int,
                 bootstrap_conf: ConfState) -> None:
        self.leaders: dict[int, int] = {}
        self.log: dict[tuple[int, int], tuple[int, bytes, int]] = {}
        self.committed_terms: dict[int, int] = {bootstrap_index: bootstrap_term}
        self.committed_entries: dict[int, tuple[int, int, bytes]] = {}
        self.max_commit = bootstrap_index
        self.digests: dict[int, bytes] = {bootstrap_index: _EMPTY_DIGEST}
        self.confs: dict[int, ConfState] = {bootstrap_index: bootstrap_conf}
        self.conf_indexes: list[int] = [bootstrap_index]
        self.reads: dict[bytes, int] = {}
        self.payload_index: dict[bytes, int] = {}
        self.max_payload_index = 0
        self.views: dict[int, _NodeView] = {}
        self.checks = 0
        self.restores = self.read_states = self.snapshots_made = self.confs_applied = 0
        self.step = 0  # set by the cluster, for messages

    def fail(self, what: str) -> None:
        raise InvariantViolation(f"step {self.step}: {what}")

    # -- life cycle ---------------------------------------------------------------------------

    def on_start(self, node: SimNode) -> None:
        """A node (re)started from its durable storage."""
        storage = node.disk.storage
        hs = storage.hard_state
        raft = node.raw.raft
        self.views[node.id] = _NodeView(node.sm.applied_index, raft.log.committed, hs.term,
                                        hs.vote)
        snap = storage.snapshot()
        if snap.metadata.index:
            self._check_snapshot(node, snap, node.sm)
        # Restarts are rare: check the durable log against what is known committed.
        hi = min(storage.last_index(), max(hs.commit, raft.log.committed))
        for i in range(storage.first_index(), hi + 1):
            known = self.committed_terms.get(i)
            if known is not None and storage.term(i) != known:
                self.fail(f"{node} restarted with entry {i} at term {storage.term(i)}, "
                          f"but term {known} is committed there")

    # -- after every step ---------------------------------------------------------------------

    def after_step(self, nodes: list[SimNode]) -> None:
        self.checks += 1
        for node in nodes:
            raw = node.raw
            if raw is None:
                continue
            r = raw.raft
            view = self.views[node.id]
            commit = r.log.committed
            if commit != view.commit:
                self._on_commit(node, view, commit)
            if r.state == StateType.LEADER and view.leader_term != r.term:
                view.leader_term = r.term
                self._on_new_leader(node, r.term)

    def _on_commit(self, node: SimNode, view: _NodeView, commit: int) -> None:
        if commit < view.commit:
            self.fail(f"{node} commit index went back from {view.commit} to {commit}")
        view.commit = commit
        log = node.raw.raft.log
        term = log.term(commit)
        known = self.committed_terms.get(commit)
        if known is None:
            if term:
                self.committed_terms[commit] = term
        elif term and term != known:
            self.fail(f"{node} committed index {commit} at term {term}, "
                      f"but term {known} was committed there")
        if commit > self.max_commit:
            # Record what is now committed, from this node's log (O(new entries) in all).
            lo = max(self.max_commit + 1, log.first_index())
            try:
                ents = log.slice(lo, commit + 1)
            except Compacted:
                ents = []
            for e in ents:
                self._record_committed(node, e)
            self.max_commit = commit

    def _record_committed(self, node: SimNode, e: Entry) -> None:
        got = (e.term, e.type, e.data)
        known = self.committed_entries.get(e.index)
        if known is None:
            kt = self.committed_terms.get(e.index)
            if kt is not None and kt != e.term:
                self.fail(f"{node} has entry {e.index} at term {e.term} as committed, "
                          f"but term {kt} was committed there")
            self.committed_entries[e.index] = got
            self.committed_terms[e.index] = e.term
        elif known != got:
            self.fail(f"committed entry {e.index} changed: was {known}, {node} has {got}")

    def _on_new_leader(self, node: SimNode, term: int) -> None:
        other = self.leaders.setdefault(term, node.id)
        if other != node.id:
            self.fail(f"two leaders in term {term}: {other} and {node.id}")
        # Leader completeness: the new leader holds the highest index ever known committed.
        c = self.max_commit
        log = node.raw.raft.log
        if c > log.last_index():
            self.fail(f"new leader {node} (term {term}) lacks committed index {c}: "
                      f"its last index is {log.last_index()}")
        t = log.term(c)
        known = self.committed_terms.get(c)
        if t == 0:
            if log.first_index() - 1 < c:
                self.fail(f"new leader {node} (term {term}) lacks committed index {c}")
        elif known is not None and t != known:
            self.fail(f"new leader {node} (term {term}) has term {t} at committed index {c}, "
                      f"committed term is {known}")

    # -- Readies ------------------------------------------------------------------------------

    def on_ready(self, node: SimNode, rd: Ready) -> None:
        view = self.views[node.id]
        hs = rd.hard_state
        if hs is not None:
            if hs.term < view.term:
                self.fail(f"{node} term went back from {view.term} to {hs.term}")
            view.term = hs.term
            vote = view.votes.setdefault(hs.term, hs.vote)
            if vote != hs.vote and vote != 0:
                self.fail(f"{node} voted twice in term {hs.term}: {vote} then {hs.vote}")
            view.votes[hs.term] = hs.vote
        if rd.snapshot is not None:
            self._check_snapshot_meta(node, rd.snapshot)
        ents = rd.entries
        if ents:
            log_map = self.log
            prev = node.raw.raft.log.term(ents[0].index - 1)
            for e in ents:
                key = (e.index, e.term)
                val = (e.type, e.data, prev)
                old = log_map.get(key)
                if old is None:
                    log_map[key] = val
                elif old != val:
                    if old[:2] != val[:2] or (old[2] and prev and old[2] != prev):
                        self.fail(f"log matching: {node} has entry {e.index}/{e.term} as "
                                  f"{val}, another log has {old}")
                    if not old[2]:
                        log_map[key] = val
                prev = e.term

    # -- applying and snapshots ---------------------------------------------------------------

    def on_apply(self, node: SimNode, e: Entry) -> None:
        """Called after node's state machine applied e."""
        view = self.views[node.id]
        i = e.index
        if i != view.applied + 1:
            self.fail(f"{node} applied index {i} after {view.applied} (gap or repeat)")
        view.applied = i
        if i > self.max_commit:
            self.fail(f"{node} applied index {i} beyond any known commit ({self.max_commit})")
        self._record_committed(node, e)
        # Applied entries must already be durable locally (DESIGN.md section 3).
        storage = node.disk.storage
        if i > storage.last_index() or (i >= storage.first_index()
                                        and storage.term(i) != e.term):
            self.fail(f"{node} applied entry {i}/{e.term} that is not in its durable log")
        sm = node.sm
        digest = self.digests.setdefault(i, sm.digest)
        if digest != sm.digest:
            self.fail(f"{node} state machine differs after applying index {i}")
        if e.data and e.type == 0:
            if self.payload_index.setdefault(e.data, i) == i and i > self.max_payload_index:
                self.max_payload_index = i

    def on_skip(self, node: SimNode, e: Entry) -> None:
        """node was handed e again but its state machine already holds it."""
        if e.index > self.views[node.id].applied:
            self.fail(f"{node} skipped entry {e.index} it never applied")
        self._record_committed(node, e)

    def on_conf_applied(self, node: SimNode, index: int, cs: ConfState) -> None:
        self.confs_applied += 1
        known = self.confs.get(index)
        if known is None:
            self.confs[index] = cs
            bisect.insort(self.conf_indexes, index)
        elif known != cs:
            self.fail(f"{node} applied conf change {index} into {cs}, others into {known}")

    def latest_conf(self) -> ConfState:
        """The newest configuration any node applied."""
        return self.confs[self.conf_indexes[-1]]

    def _conf_at(self, index: int) -> ConfState:
        return self.confs[self.conf_indexes[bisect.bisect_right(self.conf_indexes, index) - 1]]

    def _check_snapshot_meta(self, node: SimNode, snap: Snapshot) -> None:
        meta = snap.metadata
        if meta.index > self.max_commit:
            self.fail(f"{node} got snapshot {meta.index}/{meta.term} beyond any known commit "
                      f"({self.max_commit})")
        known = self.committed_terms.setdefault(meta.index, meta.term)
        if known != meta.term:
            self.fail(f"{node} got snapshot {meta.index}/{meta.term}, but term {known} "
                      f"is committed there")
        if meta.index > 1 and (meta.index, meta.term) not in self.log:
            self.fail(f"{node} got snapshot {meta.index}/{meta.term} of an entry no log had")

    def _check_snapshot(self, node: SimNode, snap: Snapshot, sm: StateMachine) -> None:
        meta = snap.metadata
        self._check_snapshot_meta(node, snap)
        if sm.applied_index != meta.index:
            self.fail(f"{node} snapshot at {meta.index} holds state at {sm.applied_index}")
        digest = self.digests.get(meta.index)
        if digest is not None and digest != sm.digest:
            self.fail(f"{node} snapshot at {meta.index} holds a different state machine")
        conf = self._conf_at(meta.index)
        if conf != meta.conf_state:
            self.fail(f"{node} snapshot at {meta.index} has config {meta.conf_state}, "
                      f"{conf} was in force there")

    def on_snapshot_made(self, node: SimNode, snap: Snapshot) -> None:
        self.snapshots_made += 1
        self._check_snapshot(node, snap, node.sm)

    def on_restore(self, node: SimNode, snap: Snapshot) -> None:
        """node installed snap (now durable) into its state machine."""
        view = self.views[node.id]
        if snap.metadata.index <= view.applied:
            self.fail(f"{node} installed snapshot {snap.metadata.index} but had already "
                      f"applied {view.applied}")
        self._check_snapshot(node, snap, node.sm)
        view.applied = snap.metadata.index
        self.restores += 1

    # -- reads --------------------------------------------------------------------------------

    def on_read_requested(self, ctx: bytes) -> None:
        self.reads[ctx] = self.max_commit

    def on_read_state(self, node: SimNode, rs: ReadState) -> None:
        self.read_states += 1
        need = self.reads.get(rs.request_ctx)
        if need is None:
            self.fail(f"{node} got a ReadState for a read nobody asked: {rs}")
        if rs.index < need:
            self.fail(f"{node} read {rs.request_ctx!r} at index {rs.index}, but index {need} "
                      f"was committed when it was asked (stale read)")

    # -- the end ------------------------------------------------------------------------------

    def final_check(self, members: list[SimNode]) -> None:
        """Every acknowledged payload is on every member, in one order."""
        acked = self.payload_index
        longest: list[bytes] = []
        for node in members:
            payloads = node.sm.payloads
            have = set(payloads)
            missing = [p for p in acked if p not in have]
            if missing:
                self.fail(f"{node} lost {len(missing)} acknowledged payload(s), "
                          f"e.g. {missing[:3]}")
            if len(payloads) > len(longest):
                longest = payloads
        for node in members:
            payloads = node.sm.payloads
            if payloads != longest[:len(payloads)]:
                self.fail(f"{node} applied payloads in a different order")
