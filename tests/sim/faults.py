"""The faults of the fault phase: crashes and restarts, partitions, one-way cuts.

Theory of operation: each kind of fault fires at random intervals (mean from the Scenario)
while `cluster.faulting` holds, and undoes itself after a random while (a crashed node restarts,
a partition heals, a cut link comes back). Victims are chosen to hurt: often the leader, and for
crashes often a node with writes not yet durable, since a crash that loses nothing proves
little. Three adversarial crashes are timed instead of random: right after a node votes (its
vote may not be durable yet: a lost vote must never have left the node), right after a node
becomes leader (its first entries are half replicated, which sets up the overwrites of paper
figure 8), and right after a leader advances its commit index (before anyone else learns it:
what it counted as committed must survive it). Message loss, duplication and delays are the network's own (network.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from petcd.stages.raft.core import Ready, StateType
from .scenario import STEPS_PER_TICK

if TYPE_CHECKING:
    from .cluster import Cluster
    from .node import SimNode


class Faults:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rng = cluster.rng
        self.crashes = self.partitions = self.cuts = 0

    def start(self) -> None:
        sc = self.cluster.scenario
        for every, fn in ((sc.crash_every, self._random_crash),
                          (sc.partition_every, self._partition), (sc.cut_every, self._cut)):
            if every:
                self._schedule(every, fn)

    def _schedule(self, every: int, fn) -> None:
        self.cluster.events.after(self.rng.randint(1, 2 * every), self._fire, every, fn)

    def _fire(self, every: int, fn) -> None:
        if self.cluster.faulting:
            fn()
            self._schedule(every, fn)

    def victim(self, leader_bias: float = 0.35) -> SimNode | None:
        """A live node to act on: often the leader, where faults matter most."""
        c = self.cluster
        leader = c.leader()
        if leader is not None and self.rng.random() < leader_bias:
            return leader
        live = [n for n in c.nodes.values() if n.up]
        return self.rng.choice(live) if live else None

    # -- crashes ------------------------------------------------------------------------------

    def _random_crash(self) -> None:
        node = self.victim()
        unsynced = [n for n in self.cluster.nodes.values() if n.up and n.disk.pending()]
        if unsynced and self.rng.random() < 0.5:
            # A crash matters most when it loses writes (a vote, an append not yet acked).
            node = self.rng.choice(unsynced)
        if node is not None:
            self._crash(node, "")

    def _crash(self, node: SimNode, why: str) -> None:
        c = self.cluster
        lost = node.disk.pending()
        c.crash_node(node)
        self.crashes += 1
        if c.trace.enabled:
            c.trace.add(c.events.now, "crash", node, why, f"lost {lost} unsynced write(s)")
        # Often back at once, before the cluster moved on (e.g. within the same election).
        longest = 2 if self.rng.random() < 0.4 else 5 * c.scenario.election_ticks
        delay = self.rng.randint(1, longest * STEPS_PER_TICK)
        c.events.after(delay, self._restart, node, node.incarnation)

    def _restart(self, node: SimNode, incarnation: int) -> None:
        c = self.cluster
        if node.up or node.stopped or node.incarnation != incarnation or not c.faulting:
            return  # already back (the heal restarts everyone), or removed meanwhile
        node.start()
        if c.trace.enabled:
            c.trace.add(c.events.now, "restart", node)

    def on_ready(self, node: SimNode, rd: Ready) -> None:
        """Adversarial timing: maybe crash a node just after it voted or just after it won."""
        c = self.cluster
        if not c.faulting:
            return
        sc = c.scenario
        rng = self.rng
        hs, ss = rd.hard_state, rd.soft_state
        if sc.crash_after_vote_rate and hs is not None and hs.vote and rd._term_or_vote_changed \
                and rng.random() < sc.crash_after_vote_rate:
            # Before or just after the vote is durable.
            c.events.after(rng.randint(0, sc.disk_max_delay), self._crash_soon, node,
                           node.incarnation, "after voting")
        if sc.crash_new_leader_rate and ss is not None and ss.raft_state == StateType.LEADER \
                and rng.random() < sc.crash_new_leader_rate:
            c.events.after(rng.randint(1, 3 * sc.net_max_delay), self._crash_soon, node,
                           node.incarnation, "after winning")
        if sc.crash_leader_on_commit_rate and hs is not None and not rd._term_or_vote_changed \
                and node.raw.raft.state == StateType.LEADER \
                and rng.random() < sc.crash_leader_on_commit_rate:
            c.events.after(rng.randint(0, 2), self._crash_soon, node, node.incarnation,
                           "after committing")

    def _crash_soon(self, node: SimNode, incarnation: int, why: str) -> None:
        if node.up and node.incarnation == incarnation and self.cluster.faulting:
            self._crash(node, why)

    # -- the network --------------------------------------------------------------------------

    def _partition(self) -> None:
        c = self.cluster
        ids = sorted(c.nodes)
        self.rng.shuffle(ids)
        k = self.rng.randint(1, len(ids) - 1)
        groups = [set(ids[:k]), set(ids[k:])]
        leader = c.leader()
        if leader is not None and self.rng.random() < 0.3:
            groups = [{leader.id}, set(ids) - {leader.id}]  # isolate the leader
        c.network.partition(groups)
        self.partitions += 1
        if c.trace.enabled:
            c.trace.add(c.events.now, "partition", sorted(groups[0]), sorted(groups[1]))
        delay = self.rng.randint(3, 6 * c.scenario.election_ticks) * STEPS_PER_TICK
        c.events.after(delay, self._heal_partition, self.partitions)

    def _heal_partition(self, generation: int) -> None:
        c = self.cluster
        if generation == self.partitions and c.faulting:  # not a newer partition
            c.network.heal_partition()
            if c.trace.enabled:
                c.trace.add(c.events.now, "heal", "partition")

    def _cut(self) -> None:
        c = self.cluster
        a, b = self.rng.sample(sorted(c.nodes), 2)
        c.network.cut_one_way(a, b)
        self.cuts += 1
        if c.trace.enabled:
            c.trace.add(c.events.now, "cut", f"{a}->{b}")
        delay = self.rng.randint(3, 5 * c.scenario.election_ticks) * STEPS_PER_TICK
        c.events.after(delay, c.network.restore_one_way, a, b)
