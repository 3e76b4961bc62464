"""The simulated clients: proposals, linearizable reads, leadership transfers, membership changes.

Theory of operation: during the fault phase each activity fires at random intervals (the mean
comes from the Scenario) against a random live node, as a client connected to any member would.
Payloads are unique ASCII tokens (`v<n>`), so the checker can follow each one. A proposal the
core refuses (ProposalDropped: no leader, transfer under way, ...) goes back in a retry list;
one lost in the network is simply lost, as it would be for a real client that times out.
Clients wait for their requests: at most `max_outstanding_proposals` are in flight, each until
it is applied somewhere or the client gives up on it, so the load follows what the cluster can
commit instead of piling up an unbounded backlog.

Membership changes keep the cluster between 3 and 5 voters and at most two learners, judged
from the newest configuration anyone applied: add a learner with a fresh id (its node starts at
once, with empty storage and no bootstrap snapshot, and is caught up by the leader), promote a
learner, remove a voter (the leader included) or a learner. The core refuses a second change
while one is pending; for a local proposal it raises ProposalDropped, which is fine here.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from petcd.common.types import ConfChange, ConfChangeType
from petcd.stages.raft.core.errors import ProposalDropped
from .scenario import STEPS_PER_TICK

if TYPE_CHECKING:
    from .cluster import Cluster
    from .node import SimNode

MIN_VOTERS = 3
MAX_VOTERS = 5
MAX_LEARNERS = 2
MAX_NEW_NODES = 8  # bounds the run: ids handed to learners over the whole run


class Client:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rng = cluster.rng
        self._next_payload = 0
        self._next_read = 0
        self.retry: deque[bytes] = deque()
        # (payload, step after which the client gives up waiting for it)
        self.outstanding: deque[tuple[bytes, int]] = deque()
        self.patience = 3 * cluster.scenario.election_ticks * STEPS_PER_TICK
        self.new_nodes = 0
        self.proposed = self.dropped = self.reads = self.transfers = self.conf_changes = 0

    def start(self) -> None:
        sc = self.cluster.scenario
        for fn, every in ((self._propose, sc.propose_every), (self._read, sc.read_every),
                          (self._transfer, sc.transfer_every),
                          (self._conf_change, sc.conf_change_every)):
            if every:
                self.cluster.events.after(self.rng.randint(1, 2 * every), self._loop, fn, every)

    def _loop(self, fn, every: int) -> None:
        if not self.cluster.faulting:
            return
        node = self._random_live_node()
        if node is not None:
            fn(node)
            self.cluster.mark_dirty(node)
        self.cluster.events.after(self.rng.randint(1, 2 * every), self._loop, fn, every)

    def _random_live_node(self) -> SimNode | None:
        live = [n for n in self.cluster.nodes.values() if n.up]
        return self.rng.choice(live) if live else None

    def fresh_payload(self) -> bytes:
        self._next_payload += 1
        return b"v%d" % self._next_payload

    # -- activities ---------------------------------------------------------------------------

    def _busy(self) -> bool:
        """Whether the clients are all waiting on earlier proposals (applied, or timed out)."""
        outstanding = self.outstanding
        applied = self.cluster.checker.payload_index
        now = self.cluster.events.now
        while outstanding and (outstanding[0][0] in applied or outstanding[0][1] < now):
            outstanding.popleft()
        return len(outstanding) >= self.cluster.scenario.max_outstanding_proposals

    def _propose(self, node: SimNode) -> None:
        if self._busy():
            return
        n = 1 if self.rng.random() < 0.8 else self.rng.randint(2, 4)
        datas = [self.retry.popleft() if self.retry else self.fresh_payload() for _ in range(n)]
        c = self.cluster
        try:
            if n == 1:
                node.raw.propose(datas[0])
            else:
                node.raw.propose_batch(datas)
            self.proposed += n
            give_up = self.cluster.events.now + self.patience
            self.outstanding.extend((d, give_up) for d in datas)
            if c.trace.enabled:
                c.trace.add(c.events.now, "propose", node, b",".join(datas).decode())
        except ProposalDropped as e:
            self.dropped += n
            self.retry.extend(datas)
            if c.trace.enabled:
                c.trace.add(c.events.now, "dropped", node, b",".join(datas).decode(), e.reason)

    def _read(self, node: SimNode) -> None:
        c = self.cluster
        self._next_read += 1
        ctx = b"r%d" % self._next_read
        c.checker.on_read_requested(ctx)
        try:
            node.raw.read_index(ctx)
            self.reads += 1
            if c.trace.enabled:
                c.trace.add(c.events.now, "read", node, ctx.decode(),
                            f"need>={c.checker.max_commit}")
        except ProposalDropped:
            pass

    def _transfer(self, node: SimNode) -> None:
        voters = node.raw.raft.tracker.voters
        if not voters:
            return
        target = self.rng.choice(sorted(voters))
        node.raw.transfer_leader(target)
        self.transfers += 1
        c = self.cluster
        if c.trace.enabled:
            c.trace.add(c.events.now, "transfer", node, f"to={target}")

    def _conf_change(self, node: SimNode, burst: bool = True) -> None:
        c = self.cluster
        conf = c.checker.latest_conf()
        voters, learners = sorted(conf.voters), sorted(conf.learners)
        choices = []
        if len(learners) < MAX_LEARNERS and self.new_nodes < MAX_NEW_NODES:
            choices.append("add_learner")
        if learners and len(voters) < MAX_VOTERS:
            choices.append("promote")
        if len(voters) > MIN_VOTERS:
            choices.append("remove_voter")
        if learners:
            choices.append("remove_learner")
        if not choices:
            return
        kind = self.rng.choice(choices)
        if kind == "add_learner":
            cc = ConfChange(ConfChangeType.ADD_LEARNER_NODE, c.next_node_id())
        elif kind == "promote":
            cc = ConfChange(ConfChangeType.ADD_NODE, self.rng.choice(learners))
        elif kind == "remove_voter":
            cc = ConfChange(ConfChangeType.REMOVE_NODE, self.rng.choice(voters))
        else:
            cc = ConfChange(ConfChangeType.REMOVE_NODE, self.rng.choice(learners))
        try:
            node.raw.propose_conf_change(cc)
        except ProposalDropped as e:
            if c.trace.enabled:
                c.trace.add(c.events.now, "cc-refused", node, kind, cc.node_id, e.reason)
            return
        self.conf_changes += 1
        if c.trace.enabled:
            c.trace.add(c.events.now, "conf-prop", node, kind, cc.node_id)
        if kind == "add_learner":
            self.new_nodes += 1
            c.add_node(cc.node_id)
        if burst and self.rng.random() < 0.3:
            # A second change right behind the first, which the core must refuse (one change
            # at a time, thesis 4.1) unless the first is already applied.
            other = self._random_live_node()
            if other is not None:
                self._conf_change(other, burst=False)
                c.mark_dirty(other)

