"""A simulated member: one RawNode driven by the Ready contract over a fake disk.

Theory of operation: the node plays the raft stage's loop for its RawNode. For every Ready it
sends `messages` at once; queues hard state, snapshot and entries on its Disk (FIFO, random
latency) together with `persist_messages`, which leave only when that persist completes (those
addressed to itself are stepped, the rest sent); queues `committed_entries` for the state
machine, which applies them after a random delay, in order, then calls `applied_to()`; conf
change entries are applied with `apply_conf_change()` at that point. A persisted snapshot
replaces the state machine (after draining earlier applies) before its persist messages are
stepped, because STORAGE_APPEND_RESP tells the core it is installed.

A crash drops everything volatile: the RawNode, the state machine, persists not yet complete and
applies not yet done. `incarnation` changes on every crash and restart, so events scheduled for
an earlier life (ticks, applies, local messages) do nothing. A restart builds a new RawNode over
the durable MemoryStorage and rebuilds the state machine from the durable snapshot's data; the
core then hands out the committed log again. A node that applies its own removal keeps running
(a removed leader first hands leadership off, see raft.py, and its vote may still count for
voters that have not applied the removal yet); it stops for good when a peer that applied the
removal refuses its traffic (cluster.py), as an etcd member does when told it was removed.

Every observable effect is reported to the cluster's checker as it happens.
"""
from __future__ import annotations

import random
from collections import deque
from typing import TYPE_CHECKING

from petcd.common.types import (
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType as MT,
    Snapshot, SnapshotMetadata,
)
from petcd.stages.raft.core import Config, RawNode
from petcd.stages.raft.core.errors import StepPeerNotFound
from .disk import Disk
from .scenario import STEPS_PER_TICK
from .state_machine import StateMachine

if TYPE_CHECKING:
    from .cluster import Cluster

BOOTSTRAP_INDEX = 1
BOOTSTRAP_TERM = 1


class SimNode:
    def __init__(self, cluster: Cluster, node_id: int, bootstrap: ConfState | None) -> None:
        sc = cluster.scenario
        self.cluster = cluster
        self.id = node_id
        self.disk = Disk(cluster.rng, cluster.events, sc.disk_min_delay, sc.disk_max_delay)
        if bootstrap is not None:
            # Every founding member starts from the same snapshot: index 1, term 1, the config.
            self.disk.storage.apply_snapshot(Snapshot(
                SnapshotMetadata(BOOTSTRAP_INDEX, BOOTSTRAP_TERM, bootstrap)))
        self.raw: RawNode | None = None
        self.sm: StateMachine | None = None
        self.up = False
        self.stopped = False   # removed from the cluster: never restarts
        self.incarnation = 0
        self._applies: deque[tuple[int, list[Entry]]] = deque()
        self._apply_seq = 0
        self._apply_last_done = 0
        self._tick_steps = STEPS_PER_TICK

    def __repr__(self) -> str:
        return f"n{self.id}"

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        c = self.cluster
        sc = c.scenario
        storage = self.disk.storage
        snap = storage.snapshot()
        cfg = Config(
            id=self.id,
            rand=random.Random(c.rng.getrandbits(64)),
            election_ticks=sc.election_ticks,
            heartbeat_ticks=sc.heartbeat_ticks,
            applied=snap.metadata.index if sc.restart_with_applied else 0,
            max_size_per_msg_bytes=sc.max_size_per_msg_bytes,
            max_committed_size_per_ready_bytes=sc.max_committed_size_per_ready_bytes,
            max_uncommitted_entries_bytes=sc.max_uncommitted_entries_bytes,
            max_inflight_msgs=sc.max_inflight_msgs,
            max_inflight_bytes=sc.max_inflight_bytes,
            check_quorum=sc.check_quorum,
            pre_vote=sc.pre_vote,
            disable_proposal_forwarding=sc.disable_proposal_forwarding,
        )
        self.raw = RawNode(cfg, storage)
        self.sm = StateMachine.from_snapshot(snap)
        self.up = True
        self.incarnation += 1
        self._applies.clear()
        self._apply_last_done = 0
        c.checker.on_start(self)
        # Nodes do not tick in lockstep, and their clocks run a little fast or slow (Raft's
        # safety must not depend on clocks; only leases would, and the reads here are SAFE).
        self._tick_steps = c.rng.choice((STEPS_PER_TICK - 1, STEPS_PER_TICK, STEPS_PER_TICK + 1))
        c.events.after(1 + c.rng.randrange(STEPS_PER_TICK), self._tick, self.incarnation)
        c.mark_dirty(self)

    def crash(self) -> None:
        self.up = False
        self.raw = None
        self.sm = None
        self.disk.crash()
        self._applies.clear()
        self.incarnation += 1

    def stop(self) -> None:
        self.crash()
        self.stopped = True

    # -- inputs -------------------------------------------------------------------------------

    def _tick(self, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return
        self.raw.tick()
        self.cluster.mark_dirty(self)
        self.cluster.events.after(self._tick_steps, self._tick, incarnation)

    def step(self, m: Message) -> None:
        try:
            self.raw.step(m)
        except StepPeerNotFound:
            pass  # a response from a node we no longer (or do not yet) track; etcd drops it
        self.cluster.mark_dirty(self)

    def _step_local(self, m: Message, incarnation: int) -> None:
        if incarnation == self.incarnation:
            self.step(m)

    # -- the Ready loop -----------------------------------------------------------------------

    def handle_ready(self) -> None:
        raw = self.raw
        c = self.cluster
        while raw.has_ready():
            rd = raw.ready()
            c.checker.on_ready(self, rd)
            if c.trace.enabled and rd.soft_state is not None:
                c.trace.add(c.events.now, "role", self, rd.soft_state, f"term={raw.raft.term}")
            for m in rd.messages:
                self.send(m)
            if rd.must_persist:
                self.disk.persist(rd.hard_state, rd.snapshot, rd.entries, rd.persist_messages,
                                  self._persisted)
            if rd.committed_entries:
                self._queue_apply(rd.committed_entries)
            for rs in rd.read_states:
                c.checker.on_read_state(self, rs)
            if rd.hard_state is not None or rd.soft_state is not None:
                c.faults.on_ready(self, rd)

    def send(self, m: Message) -> None:
        c = self.cluster
        if m.to == self.id:
            c.events.after(1, self._step_local, m, self.incarnation)
            return
        if m.type == MT.SNAP and c.scenario.merge_snapshots:
            m = self._merged_snapshot_message(m)
        if c.trace.enabled:
            c.trace.add(c.events.now, "send", m, f"(via {self.id})" if self.id != m.frm else "")
        c.network.send(m, self.id, self.incarnation)

    def _merged_snapshot_message(self, m: Message) -> Message:
        """etcd's server sends a snapshot of its state at its applied index, not raft's own."""
        sm = self.sm
        index = sm.applied_index
        if index <= m.snapshot.metadata.index:
            return m
        term = self.raw.raft.log.term(index)
        snap = Snapshot(SnapshotMetadata(index, term, sm.conf_state), sm.snapshot_data())
        self.cluster.checker.on_snapshot_made(self, snap)
        return Message(type=m.type, to=m.to, frm=m.frm, term=m.term, snapshot=snap)

    def _persisted(self, snapshot: Snapshot | None, messages: list[Message]) -> None:
        c = self.cluster
        if c.trace.enabled:
            c.trace.add(c.events.now, "persist", self, f"snap={snapshot is not None}",
                        f"msgs={len(messages)}")
        if snapshot is not None:
            # Install the snapshot in the state machine before telling the core it is done.
            self._drain_applies()
            self.sm = StateMachine.from_snapshot(snapshot)
            c.checker.on_restore(self, snapshot)
        for m in messages:
            if m.to == self.id:
                self.step(m)
            else:
                self.send(m)
        c.mark_dirty(self)

    # -- applying -----------------------------------------------------------------------------

    def _queue_apply(self, entries: list[Entry]) -> None:
        c = self.cluster
        self._apply_seq += 1
        done_at = max(c.events.now + c.rng.randint(1, c.scenario.apply_max_delay),
                      self._apply_last_done)
        self._apply_last_done = done_at
        self._applies.append((self._apply_seq, entries))
        c.events.at(done_at, self._apply_due, self.incarnation, self._apply_seq)

    def _apply_due(self, incarnation: int, seq: int) -> None:
        if incarnation != self.incarnation:
            return
        applies = self._applies
        while applies and applies[0][0] <= seq:
            self._apply(applies.popleft()[1])
        self.cluster.mark_dirty(self)

    def _drain_applies(self) -> None:
        while self._applies:
            self._apply(self._applies.popleft()[1])

    def _apply(self, entries: list[Entry]) -> None:
        c = self.cluster
        sm = self.sm
        for e in entries:
            if e.index <= sm.applied_index:
                # Already in the restored snapshot: a log kept behind the snapshot is handed out
                # again when the core starts from the log's first index (Config.applied = 0).
                # Skip it, as etcd's server does.
                c.checker.on_skip(self, e)
                continue
            if e.type == EntryType.CONF_CHANGE:
                cc = ConfChange.decode(e.data)
                if cc.type != ConfChangeType.REMOVE_NODE and cc.node_id in sm.removed:
                    # A removed id never comes back (a late duplicate of an old proposal could
                    # try): etcd's membership store refuses it and applies nothing.
                    cc = None
                else:
                    sm.conf_state = self.raw.apply_conf_change(cc)
                sm.applied_index = e.index
                if cc is not None and cc.type == ConfChangeType.REMOVE_NODE:
                    sm.removed.add(cc.node_id)
                c.checker.on_conf_applied(self, e.index, sm.conf_state)
                if c.trace.enabled:
                    c.trace.add(c.events.now, "conf", self, e.index,
                                f"{cc.type.name} {cc.node_id}" if cc else "refused",
                                sm.conf_state)
            elif e.data:
                sm.apply_payload(e.index, e.data)
            else:
                sm.applied_index = e.index
            c.checker.on_apply(self, e)
        self.raw.applied_to(entries[-1].index)
        if c.trace.enabled:
            c.trace.add(c.events.now, "apply", self, entries[0].index, entries[-1].index)

    # -- local snapshots ----------------------------------------------------------------------

    def compact(self, keep: int) -> bool:
        """Snapshot the state machine at its applied index and drop the log before it."""
        storage = self.disk.storage
        sm = self.sm
        index = sm.applied_index
        if index <= storage.snapshot().metadata.index:
            return False
        if index > storage.hard_state.commit:
            # As etcd's server does, wait until the hard state that committed these entries is
            # durable: a snapshot past the durable commit index cannot be restarted from.
            return False
        snap = storage.create_snapshot(index, sm.conf_state, sm.snapshot_data())
        self.cluster.checker.on_snapshot_made(self, snap)
        compact_to = index - keep
        if compact_to > storage.first_index() - 1:
            storage.compact(compact_to)
        return True
