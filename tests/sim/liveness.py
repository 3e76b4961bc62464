"""The liveness check that ends every run, once the faults have stopped.

Theory of operation: with the network healed and reliable and every node back up, the cluster
must, within Scenario.liveness_ticks (LIVENESS_ELECTION_TIMEOUTS election timeouts), elect a
leader and commit a batch of fresh proposals, and every member of the leader's configuration
must apply the batch and every payload ever applied anywhere. Once a tick the driver proposes
what of the batch is not applied yet to the current leader: at once for a new leader, and again
after an election timeout (a copy may have died with a deposed leader's log; duplicates are
harmless). On success the checker's final check runs over the members; on timeout the failure
describes every node and the leader's view of its followers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from petcd.stages.raft.core import StateType
from petcd.stages.raft.core.errors import ProposalDropped
from .scenario import STEPS_PER_TICK

if TYPE_CHECKING:
    from .cluster import Cluster


class LivenessCheck:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.batch = [cluster.client.fresh_payload() for _ in range(cluster.rng.randint(3, 8))]
        self.start = cluster.events.now
        self.deadline = self.start + cluster.scenario.liveness_ticks * STEPS_PER_TICK
        self._proposed_to: tuple[int, int] | None = None
        self._proposed_at = -1

    def run(self) -> str | None:
        """None when the cluster recovered in time, else a report of why not."""
        c = self.cluster
        c.events.after(1, self._drive)
        if not c.run_until(self.deadline, self._done):
            return self._report()
        leader = c.leader()
        members = [c.nodes[i] for i in c.members(leader)]
        c.checker.final_check(members)
        if c.trace.enabled:
            c.trace.add(c.events.now, "live",
                        f"leader={leader.id} term={leader.raw.raft.term} "
                        f"members={[n.id for n in members]} "
                        f"after {(c.events.now - self.start) // STEPS_PER_TICK} ticks")
        return None

    def _drive(self) -> None:
        c = self.cluster
        applied = c.checker.payload_index
        leader = c.leader()
        pending = [p for p in self.batch if p not in applied]
        if leader is not None and pending:
            key = (leader.id, leader.raw.raft.term)
            stale = c.events.now - self._proposed_at >= c.scenario.election_ticks * STEPS_PER_TICK
            if key != self._proposed_to or stale:
                try:
                    leader.raw.propose_batch(pending)
                    self._proposed_to, self._proposed_at = key, c.events.now
                    if c.trace.enabled:
                        c.trace.add(c.events.now, "propose", leader,
                                    b",".join(pending).decode(), "(liveness batch)")
                except ProposalDropped:
                    pass  # e.g. a transfer is under way: try again next tick
                c.mark_dirty(leader)
        if c.events.now < self.deadline:
            c.events.after(STEPS_PER_TICK, self._drive)

    def _done(self) -> bool:
        c = self.cluster
        applied = c.checker.payload_index
        if any(p not in applied for p in self.batch):
            return False
        leader = c.leader()
        if leader is None:
            return False
        target = c.checker.max_payload_index
        for node_id in c.members(leader):
            node = c.nodes.get(node_id)
            if node is None or not node.up or node.sm.applied_index < target:
                return False
        return True

    def _report(self) -> str:
        c = self.cluster
        ticks = (c.events.now - self.start) // STEPS_PER_TICK
        applied = c.checker.payload_index
        lines = [f"liveness: no leader committed and applied the batch on every member "
                 f"within {ticks} ticks after the faults stopped",
                 f"  batch applied: {[p.decode() for p in self.batch if p in applied]} of "
                 f"{[p.decode() for p in self.batch]}; max payload index "
                 f"{c.checker.max_payload_index}"]
        for node in c.nodes.values():
            if not node.up:
                lines.append(f"  {node}: {'stopped' if node.stopped else 'down'}")
                continue
            r = node.raw.raft
            lines.append(
                f"  {node}: {StateType(r.state).name} term={r.term} lead={r.lead} "
                f"vote={r.vote} commit={r.log.committed} applied={node.sm.applied_index} "
                f"last={r.log.last_index()} voters={sorted(r.tracker.voters)} "
                f"learners={sorted(r.tracker.learners)}")
            if r.state == StateType.LEADER:
                for pid, pr in sorted(r.tracker.progress.items()):
                    lines.append(f"      progress {pid}: {pr}")
        return "\n".join(lines)
