"""The driver: one seeded run of a whole cluster, its faults, and the liveness check.

Theory of operation: the cluster owns the clock (events.py), the network, the nodes, the
checker, the clients and the faults, and wires them together: it is the network's endpoint
(delivery to a node, and what the transport reports back to the sender) and it turns events
into steps. A run has two phases. In the fault phase (Scenario.fault_ticks) the clients work
while faults fire (faults.py, network.py). Then the faults stop: the network heals and turns
reliable, every crashed node restarts, and the liveness check (liveness.py) must see the cluster
recover within its bound. Log compaction (a node snapshots its state machine and drops old
entries, so lagging nodes need MsgSnap) goes on in both phases.

Every step (all the events due at one instant, then every Ready they produced) is followed by
the checker's incremental invariant checks. A violation, an unexpected exception from the core,
or a liveness timeout ends the run with SimFailure.
"""
from __future__ import annotations

import random

from petcd.common.types import ConfState, Message, MessageType as MT
from petcd.stages.raft.core import StateType
from .checks import Checker
from .client import Client
from .events import EventQueue
from .faults import Faults
from .liveness import LivenessCheck
from .network import Network
from .node import BOOTSTRAP_INDEX, BOOTSTRAP_TERM, SimNode
from .scenario import STEPS_PER_TICK, Scenario
from .trace import NullTrace


def _via(m: Message, sender: int) -> str:
    """Trace note for a message relayed by a node other than its origin (a forwarded one)."""
    return f"(via {sender})" if sender != m.frm else ""


class SimFailure(Exception):
    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"step {step}: {reason}")
        self.step = step
        self.reason = reason


class Cluster:
    def __init__(self, scenario: Scenario, trace: NullTrace | None = None) -> None:
        self.scenario = scenario
        self.trace = trace or NullTrace()
        self.rng = random.Random(scenario.sim_seed)
        self.events = EventQueue()
        self.network = Network(scenario, self.rng, self.events, self._deliver, self._lost,
                               self.trace)
        founders = tuple(range(1, scenario.voters + 1))
        conf = ConfState(voters=founders)
        self.checker = Checker(BOOTSTRAP_INDEX, BOOTSTRAP_TERM, conf)
        self.nodes: dict[int, SimNode] = {}
        self._all: list[SimNode] = []
        self._dirty: dict[int, SimNode] = {}
        self._next_id = scenario.voters + 1
        self.faulting = True
        self.client = Client(self)
        self.faults = Faults(self)
        self.compactions = 0
        for node_id in founders:
            self._add(SimNode(self, node_id, conf))
        for node in self._all:
            node.start()

    # -- membership of the simulation ---------------------------------------------------------

    def _add(self, node: SimNode) -> None:
        self.nodes[node.id] = node
        self._all.append(node)

    def next_node_id(self) -> int:
        node_id = self._next_id
        self._next_id += 1
        return node_id

    def add_node(self, node_id: int) -> None:
        """A new member joins with empty storage: the leader catches it up with a snapshot."""
        node = SimNode(self, node_id, None)
        self._add(node)
        node.start()
        if self.trace.enabled:
            self.trace.add(self.events.now, "new-node", node)

    def crash_node(self, node: SimNode) -> None:
        node.crash()
        self._dirty.pop(node.id, None)

    def stop_node(self, node: SimNode, why: str) -> None:
        node.stop()
        self._dirty.pop(node.id, None)
        if self.trace.enabled:
            self.trace.add(self.events.now, "stop", node, why)

    def mark_dirty(self, node: SimNode) -> None:
        self._dirty[node.id] = node

    # -- the network's endpoints --------------------------------------------------------------

    def _deliver(self, m: Message, sender: int, sender_incarnation: int) -> None:
        dst = self.nodes.get(m.to)
        if dst is None or not dst.up:
            self._lost(m, sender, sender_incarnation)
            return
        if sender in dst.sm.removed:
            # etcd's transport refuses traffic from a removed member, which then learns it was
            # removed and stops (rafthttp answers 410 Gone). Without this a removed node that
            # never applied its removal would keep disrupting the cluster with elections.
            src = self.nodes.get(sender)
            if src is not None and src.up:
                self.stop_node(src, f"refused by {dst} as removed")
            return
        if self.trace.enabled:
            self.trace.add(self.events.now, "recv", m, _via(m, sender))
        dst.step(m)
        if m.type == MT.SNAP:
            self.events.after(1, self._report, m, sender, sender_incarnation, False)

    def _lost(self, m: Message, sender: int, sender_incarnation: int) -> None:
        if m.type == MT.SNAP:
            self.events.after(1, self._report, m, sender, sender_incarnation, True)
        elif self.rng.random() < self.scenario.unreachable_rate:
            self.events.after(1, self._report, m, sender, sender_incarnation, None)

    def _report(self, m: Message, sender: int, sender_incarnation: int,
                snapshot_failed: bool | None) -> None:
        """The transport tells the sender what became of a message (etcd's rafthttp does)."""
        src = self.nodes.get(sender)
        if src is None or not src.up or src.incarnation != sender_incarnation:
            return
        if snapshot_failed is None:
            src.raw.report_unreachable(m.to)
        else:
            src.raw.report_snapshot(m.to, snapshot_failed)
        self.mark_dirty(src)

    # -- stepping -----------------------------------------------------------------------------

    def _flush(self) -> None:
        dirty = self._dirty
        while dirty:
            node_id = next(iter(dirty))
            node = dirty.pop(node_id)
            if node.up:
                node.handle_ready()

    def run_until(self, end_step: int, stop_when=None) -> bool:
        """Run steps up to end_step; True as soon as stop_when() holds after a step."""
        events = self.events
        checker = self.checker
        nodes = self._all
        while True:
            nxt = events.next_step()
            if nxt is None or nxt > end_step:
                events.now = end_step
                return False
            for fn, args in events.pop_step():
                fn(*args)
            self._flush()
            checker.step = events.now
            checker.after_step(nodes)
            if stop_when is not None and stop_when():
                return True

    # -- housekeeping -------------------------------------------------------------------------

    def _compact_loop(self) -> None:
        """Not a fault: members snapshot and compact their logs all along, as etcd's do."""
        node = self.faults.victim(0.5)  # the leader's log is what lagging followers need
        if node is not None:
            keep = self.rng.choice((0, 1, 3, 10))
            if node.compact(keep):
                self.compactions += 1
                if self.trace.enabled:
                    self.trace.add(self.events.now, "compact", node,
                                   f"snap={node.sm.applied_index} keep={keep}")
        every = self.scenario.compact_every
        self.events.after(self.rng.randint(1, 2 * every), self._compact_loop)

    # -- the run ------------------------------------------------------------------------------

    def heal(self) -> None:
        self.faulting = False
        self.network.faults = False
        self.network.heal()
        for node in self._all:
            if not node.up and not node.stopped:
                node.start()
        if self.trace.enabled:
            self.trace.add(self.events.now, "heal", "all faults stop; every node restarts")

    def leader(self) -> SimNode | None:
        best = None
        for node in self._all:
            if node.up and node.raw.raft.state == StateType.LEADER and (
                    best is None or node.raw.raft.term > best.raw.raft.term):
                best = node
        return best

    def members(self, leader: SimNode) -> list[int]:
        tracker = leader.raw.raft.tracker
        return sorted(tracker.voters | tracker.learners)

    def run(self) -> None:
        sc = self.scenario
        self.faults.start()
        self.client.start()
        self.events.after(self.rng.randint(1, 2 * sc.compact_every), self._compact_loop)
        self.run_until(sc.fault_ticks * STEPS_PER_TICK)
        self.heal()
        failure = LivenessCheck(self).run()
        if failure:
            raise SimFailure(self.events.now, failure)

    def stats(self) -> str:
        c = self.client
        k = self.checker
        snaps = self.network.sent_by_type.get(MT.SNAP, 0)
        return (f"steps={k.checks} ticks={self.events.now // STEPS_PER_TICK} "
                f"commit={k.max_commit} leaders={len(k.leaders)} "
                f"msgs={self.network.sent} dropped={self.network.dropped} "
                f"proposed={c.proposed} refused={c.dropped} reads={c.reads}/"
                f"{k.read_states} transfers={c.transfers} conf_changes={c.conf_changes}/"
                f"{len(k.confs) - 1} crashes={self.faults.crashes} "
                f"partitions={self.faults.partitions} cuts={self.faults.cuts} compactions={self.compactions} msg_snap={snaps} "
                f"restores={k.restores} nodes={len(self._all)}")
