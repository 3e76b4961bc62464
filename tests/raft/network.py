"""A synchronous in-memory cluster of RawNodes for the paper-style tests (after etcd's newNetwork).

Every node runs over its own MemoryStorage, bootstrapped from a snapshot at index 1, term 1
that carries the initial ConfState (so logs begin at index 2). `stabilize()` plays the caller
of the Ready contract, synchronously: send `messages`, persist (snapshot, entries, hard state),
then deliver `persist_messages` (step those addressed to the node itself, send the rest), then
apply `committed_entries` (conf changes included) and report `applied_to`.

Faults: `cut(a, b)` drops both directions of a link, `isolate(id)` cuts a node off, `heal()`
restores everything; `drop_if` / `hold_if` take predicates over messages, and `release()` puts
the held messages back in flight; `restart(id)` rebuilds a node over its storage. `sent`
records every message a node emitted, dropped or not, so tests can count them.

For a lone node, `flush(node)` plays the caller the same way and returns what it sent, and
`win_election(node)` grants every vote it asks for.
"""
from __future__ import annotations

import random
from collections import deque
from typing import Callable

from petcd.stages.raft.core import (
    NONE, Config, ConfChange, ConfState, Entry, EntryType, HardState, MemoryStorage, Message,
    MessageType as MT, RawNode, ReadState, Ready, Snapshot, SnapshotMetadata, StateType,
)
from petcd.stages.raft.core.errors import StepPeerNotFound

BOOT_INDEX = 1
BOOT_TERM = 1


def bootstrap_storage(voters=(1, 2, 3), learners=(), terms=(), term=BOOT_TERM, vote=NONE,
                      commit=BOOT_INDEX) -> MemoryStorage:
    """A storage holding the bootstrap snapshot, then one entry per item of `terms`
    (at indexes 2, 3, ...), and the given hard state."""
    st = MemoryStorage()
    cs = ConfState(voters=tuple(sorted(voters)), learners=tuple(sorted(learners)))
    st.apply_snapshot(Snapshot(SnapshotMetadata(index=BOOT_INDEX, term=BOOT_TERM, conf_state=cs)))
    st.append([Entry(term=t, index=BOOT_INDEX + 1 + i) for i, t in enumerate(terms)])
    st.set_hard_state(HardState(term=term, vote=vote, commit=commit))
    return st


def new_node(node_id: int, voters=(1, 2, 3), learners=(), storage: MemoryStorage | None = None,
             **cfg) -> RawNode:
    """One RawNode; `cfg` overrides Config fields. Randomness is seeded by the node id."""
    if storage is None:
        storage = bootstrap_storage(voters, learners)
    cfg.setdefault("rand", random.Random(node_id))
    return RawNode(Config(id=node_id, **cfg), storage)


def persist(storage: MemoryStorage, rd: Ready) -> None:
    """What the wal stage does with a Ready, in the required order."""
    if rd.snapshot is not None:
        storage.apply_snapshot(rd.snapshot)
    if rd.entries:
        storage.append(rd.entries)
    if rd.hard_state is not None:
        storage.set_hard_state(rd.hard_state)


def data_of(entries) -> list[bytes]:
    """The payloads of normal, non-empty entries (drops leaders' empty entries)."""
    return [e.data for e in entries if e.type == EntryType.NORMAL and e.data]


def flush(node: RawNode) -> list[Message]:
    """Play the caller for a lone node: handle every Ready (persisting into its own storage,
    stepping self-addressed persist messages, reporting applies) and return the messages it
    sent to other nodes, in order."""
    out: list[Message] = []
    storage = node.raft.log.storage
    while node.has_ready():
        rd = node.ready()
        out.extend(rd.messages)
        persist(storage, rd)
        for m in rd.persist_messages:
            if m.to == node.raft.id:
                node.step(m)
            else:
                out.append(m)
        if rd.committed_entries:
            node.applied_to(rd.committed_entries[-1].index)
    return out


def of_type(msgs, type_: MT) -> list[Message]:
    return [m for m in msgs if m.type == type_]


def win_election(node: RawNode) -> list[Message]:
    """Make a lone node leader by granting every (pre-)vote it asks for; returns what it sent
    once leader (its first appends)."""
    node.campaign()
    while node.raft.state != StateType.LEADER:
        asks = [m for m in flush(node) if m.type in (MT.VOTE, MT.PRE_VOTE)]
        if node.raft.state == StateType.LEADER:
            break  # a single voter wins on its own vote
        assert asks, "the node asked for no votes"
        for m in asks:
            resp = MT.VOTE_RESP if m.type == MT.VOTE else MT.PRE_VOTE_RESP
            node.step(Message(type=resp, to=m.frm, frm=m.to, term=m.term))
    return flush(node)


class Network:
    def __init__(self, voters=(1, 2, 3), learners=(), storages=None, **cfg) -> None:
        self.cfg = cfg
        self.nodes: dict[int, RawNode] = {}
        self.storages: dict[int, MemoryStorage] = {}
        self.applied: dict[int, list[Entry]] = {}       # committed entries, in apply order
        self.snapshots: dict[int, list[Snapshot]] = {}  # snapshots installed from Readies
        self.read_states: dict[int, list[ReadState]] = {}
        self.conf_states: dict[int, ConfState] = {}
        self.queue: deque[Message] = deque()
        self.held: list[Message] = []
        self.sent: list[Message] = []
        self.drop_if: list[Callable[[Message], bool]] = []
        self.hold_if: list[Callable[[Message], bool]] = []
        self._cut: set[tuple[int, int]] = set()
        if storages is None:
            storages = {i: bootstrap_storage(voters, learners) for i in (*voters, *learners)}
        for node_id, storage in storages.items():
            self.add(node_id, storage)

    # -- membership of the test network -------------------------------------------------------

    def add(self, node_id: int, storage: MemoryStorage | None = None, **cfg) -> RawNode:
        """Add a node; with no storage it starts empty and must be caught up by snapshot."""
        storage = storage if storage is not None else MemoryStorage()
        node = new_node(node_id, storage=storage, **{**self.cfg, **cfg})
        self.nodes[node_id] = node
        self.storages[node_id] = storage
        self.applied.setdefault(node_id, [])
        self.snapshots.setdefault(node_id, [])
        self.read_states.setdefault(node_id, [])
        return node

    def restart(self, node_id: int, **cfg) -> RawNode:
        """Crash and restart a node over its storage (this network persists synchronously, so
        nothing durable is lost). Its state machine is durable too: `applied` carries over."""
        applied = self.nodes[node_id].raft.log.applied
        node = new_node(node_id, storage=self.storages[node_id],
                        **{**self.cfg, "applied": applied, **cfg})
        self.nodes[node_id] = node
        return node

    def raft(self, node_id: int):
        return self.nodes[node_id].raft

    def state(self, node_id: int) -> StateType:
        return self.nodes[node_id].raft.state

    def term(self, node_id: int) -> int:
        return self.nodes[node_id].raft.term

    def leaders(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.raft.state == StateType.LEADER]

    # -- faults -------------------------------------------------------------------------------

    def cut(self, a: int, b: int) -> None:
        self._cut |= {(a, b), (b, a)}

    def isolate(self, node_id: int) -> None:
        for other in self.nodes:
            if other != node_id:
                self.cut(node_id, other)

    def heal(self) -> None:
        self._cut.clear()
        self.drop_if.clear()
        self.hold_if.clear()

    def release(self) -> None:
        """Put held messages back in flight (they are delivered by the next stabilize)."""
        self.queue.extend(self.held)
        self.held.clear()

    # -- driving ------------------------------------------------------------------------------

    def elect(self, node_id: int) -> None:
        self.nodes[node_id].campaign()
        self.stabilize()
        assert self.state(node_id) == StateType.LEADER, f"{node_id} did not win"

    def propose(self, node_id: int, data: bytes) -> None:
        self.nodes[node_id].propose(data)
        self.stabilize()

    def tick(self, *node_ids: int, times: int = 1) -> None:
        """Tick the given nodes (all by default) `times` times, stabilizing after each tick."""
        ids = node_ids or tuple(self.nodes)
        for _ in range(times):
            for node_id in ids:
                self.nodes[node_id].tick()
            self.stabilize()

    def send(self, *msgs: Message) -> None:
        """Deliver messages from outside (as etcd's network.send), then stabilize."""
        self.queue.extend(msgs)
        self.stabilize()

    def run_random_faults(self, rng, steps: int):
        """Each step: maybe re-partition (isolate up to two nodes), leaders propose, one tick.
        Yields after every step so a test can check an invariant there."""
        for step in range(steps):
            if rng.random() < 0.05:
                self.heal()
                for _ in range(rng.randrange(3)):
                    self.isolate(rng.choice(list(self.nodes)))
            for lead in self.leaders():
                self.nodes[lead].propose(b"%d" % step)
            self.tick(times=1)
            yield step

    def stabilize(self, max_rounds: int = 10_000) -> None:
        """Process Readies and deliver messages until nothing is left to do."""
        for _ in range(max_rounds):
            busy = False
            for node_id in sorted(self.nodes):
                if self.nodes[node_id].has_ready():
                    self.handle_ready(node_id)
                    busy = True
            while self.queue:
                busy = True
                self.deliver(self.queue.popleft())
            if not busy:
                return
        raise AssertionError("the network did not stabilize")

    def handle_ready(self, node_id: int) -> Ready:
        node = self.nodes[node_id]
        rd = node.ready()
        for m in rd.messages:
            self.post(m)
        persist(self.storages[node_id], rd)
        if rd.snapshot is not None:
            self.snapshots[node_id].append(rd.snapshot)
            self.conf_states[node_id] = rd.snapshot.metadata.conf_state
        for m in rd.persist_messages:
            if m.to == node_id:
                node.step(m)
            else:
                self.post(m)
        for e in rd.committed_entries:
            self.applied[node_id].append(e)
            if e.type == EntryType.CONF_CHANGE:
                self.conf_states[node_id] = node.apply_conf_change(ConfChange.decode(e.data))
        if rd.committed_entries:
            node.applied_to(rd.committed_entries[-1].index)
        self.read_states[node_id].extend(rd.read_states)
        return rd

    def post(self, m: Message) -> None:
        self.sent.append(m)
        if (m.frm, m.to) in self._cut or m.to not in self.nodes:
            return
        if any(f(m) for f in self.drop_if):
            return
        if any(f(m) for f in self.hold_if):
            self.held.append(m)
            return
        self.queue.append(m)

    def deliver(self, m: Message) -> None:
        try:
            self.nodes[m.to].step(m)
        except StepPeerNotFound:
            pass  # a response from a node that was removed: the transport would drop it too

    # -- inspection ---------------------------------------------------------------------------

    def sent_of(self, type_: MT, frm: int | None = None) -> list[Message]:
        return [m for m in self.sent if m.type == type_ and (frm is None or m.frm == frm)]

    def log(self, node_id: int) -> list[Entry]:
        """The durable log of a node (what its storage holds after the snapshot)."""
        st = self.storages[node_id]
        return st.entries(st.first_index(), st.last_index() + 1)
