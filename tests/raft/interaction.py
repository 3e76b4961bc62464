"""An interactive environment of Raft cores, driven by transcript commands.

Theory of operation: each node is a RawNode over a MemoryStorage that stands for its durable
disk. Messages that leave a node wait in the network until `deliver-msgs` hands them over, so a
transcript controls every interleaving. `process-ready` does the whole Ready cycle at once
(persist, then deliver the persist messages); `ready` and `persist` split it, to show the
asynchronous-storage contract. Every command returns the text it printed, which the transcript
compares with its recorded expectation.
"""
from __future__ import annotations

import random
import shlex
from dataclasses import dataclass, field

from petcd.common.types import (
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType, Snapshot,
    SnapshotMetadata,
)
from petcd.stages.raft.core import Config, MemoryStorage, RawNode, ReadOnlyOption, Ready
from petcd.stages.raft.core.describe import (
    describe_entry, describe_message, describe_ready, describe_read_state, describe_state,
)
from petcd.stages.raft.core.errors import RaftError


@dataclass
class SimNode:
    id: int
    config: Config
    storage: MemoryStorage
    rawnode: RawNode
    pending_persists: list[Ready] = field(default_factory=list)
    applied: list[Entry] = field(default_factory=list)


class InteractionEnv:
    def __init__(self) -> None:
        self.nodes: dict[int, SimNode] = {}
        self.network: list[Message] = []
        self.cut: set[tuple[int, int]] = set()

    # -- helpers ------------------------------------------------------------------------------

    def _node(self, node_id: int) -> SimNode:
        if node_id not in self.nodes:
            raise ValueError(f"no node {node_id}")
        return self.nodes[node_id]

    def _ids(self, args: list[str]) -> list[int]:
        return [int(a) for a in args] if args else sorted(self.nodes)

    def _persist(self, node: SimNode, rd: Ready, out: list[str]) -> None:
        st = node.storage
        if rd.snapshot is not None:
            st.apply_snapshot(rd.snapshot)
            node.applied = list(_decode_applied(rd.snapshot.data))
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        st.append(rd.entries)
        for m in rd.persist_messages:
            if m.to == node.id:
                node.rawnode.step(m)
            else:
                self.network.append(m)

    def _apply(self, node: SimNode, rd: Ready) -> None:
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                node.rawnode.apply_conf_change(ConfChange.decode(e.data))
            node.applied.append(e)
        if rd.committed_entries:
            node.rawnode.applied_to(rd.committed_entries[-1].index)

    def _handle_ready(self, node: SimNode, out: list[str], sync: bool) -> bool:
        rn = node.rawnode
        if not rn.has_ready():
            return False
        rd = rn.ready()
        out.append(f"> {node.id} handling Ready")
        out += ["  " + line for line in describe_ready(rd).splitlines()]
        self.network.extend(rd.messages)
        if sync:
            self._persist(node, rd, out)
        elif rd.must_persist:
            node.pending_persists.append(rd)
        self._apply(node, rd)
        return True

    # -- commands -----------------------------------------------------------------------------

    def add_nodes(self, args: list[str], kw: dict[str, str]) -> list[str]:
        count = int(args[0])
        voters = _parse_ids(kw.get("voters", ""))
        learners = _parse_ids(kw.get("learners", ""))
        index = int(kw.get("index", "1" if voters else "0"))
        out = []
        for _ in range(count):
            node_id = len(self.nodes) + 1
            cfg = Config(
                id=node_id, rand=random.Random(node_id),
                election_ticks=int(kw.get("election", "10")),
                heartbeat_ticks=int(kw.get("heartbeat", "1")),
                pre_vote=kw.get("prevote", "true") == "true",
                check_quorum=kw.get("checkquorum", "true") == "true",
                max_inflight_msgs=int(kw.get("max-inflight", "256")),
                max_size_per_msg_bytes=int(kw.get("max-msg-bytes", str(1 << 20))),
                read_only_option=(ReadOnlyOption.LEASE_BASED
                                  if kw.get("read-only") == "lease" else ReadOnlyOption.SAFE))
            st = MemoryStorage()
            if voters:
                st.apply_snapshot(Snapshot(metadata=SnapshotMetadata(
                    index=index, term=1,
                    conf_state=ConfState(voters=tuple(voters), learners=tuple(learners)))))
            self.nodes[node_id] = SimNode(node_id, cfg, st, RawNode(cfg, st))
            out.append(f"INFO {node_id} added" + (
                f" at index {index} with {_conf(voters, learners)}" if voters else " empty"))
        return out

    def campaign(self, args, kw):
        self._node(int(args[0])).rawnode.campaign()
        return []

    def propose(self, args, kw):
        return self._guard(lambda: self._node(int(args[0])).rawnode.propose(args[1].encode()))

    def propose_conf_change(self, args, kw):
        kinds = {"v": ConfChangeType.ADD_NODE, "l": ConfChangeType.ADD_LEARNER_NODE,
                 "r": ConfChangeType.REMOVE_NODE}
        spec = args[1]
        cc = ConfChange(kinds[spec[0]], int(spec[1:]))
        return self._guard(lambda: self._node(int(args[0])).rawnode.propose_conf_change(cc))

    def read_index(self, args, kw):
        return self._guard(lambda: self._node(int(args[0])).rawnode.read_index(args[1].encode()))

    def transfer_leadership(self, args, kw):
        self._node(int(kw["from"])).rawnode.transfer_leader(int(kw["to"]))
        return []

    def _guard(self, fn) -> list[str]:
        try:
            fn()
        except RaftError as e:
            return [f"ERROR {e}"]
        return []

    def process_ready(self, args, kw):
        out: list[str] = []
        for node_id in self._ids(args):
            self._handle_ready(self._node(node_id), out, sync=True)
        return out

    def ready(self, args, kw):
        out: list[str] = []
        for node_id in self._ids(args):
            self._handle_ready(self._node(node_id), out, sync=False)
        return out

    def persist(self, args, kw):
        out: list[str] = []
        for node_id in self._ids(args):
            node = self._node(node_id)
            if node.pending_persists:
                rd = node.pending_persists.pop(0)
                out.append(f"> {node_id} persisted a Ready")
                self._persist(node, rd, out)
        return out

    def deliver_msgs(self, args, kw):
        targets = set(self._ids(args))
        out: list[str] = []
        keep: list[Message] = []
        msgs, self.network = self.network, []
        for m in msgs:
            if m.to not in targets:
                keep.append(m)
                continue
            dropped = (m.frm, m.to) in self.cut or m.to not in self.nodes
            out.append(("dropped: " if dropped else "") + describe_message(m))
            if not dropped:
                try:
                    self.nodes[m.to].rawnode.step(m)
                except RaftError as e:
                    out.append(f"ERROR {e}")
            if m.type == MessageType.SNAP and m.frm in self.nodes:
                # As a transport does: tell the sender whether the snapshot got through.
                self.nodes[m.frm].rawnode.report_snapshot(m.to, failed=dropped)
        self.network = keep + self.network
        return out

    def stabilize(self, args, kw):
        ids = self._ids(args)
        out: list[str] = []
        for _ in range(1000):
            moved = False
            for node_id in ids:
                moved |= self._handle_ready(self._node(node_id), out, sync=True)
            for node_id in ids:
                if any(m.to == node_id for m in self.network):
                    moved = True
                    delivered = self.deliver_msgs([str(node_id)], {})
                    if delivered:
                        out.append(f"> {node_id} receiving messages")
                        out += ["  " + line for line in delivered]
            if not moved:
                return out
        raise AssertionError("stabilize did not converge")

    def tick_election(self, args, kw):
        for node_id in self._ids(args):
            raft = self._node(node_id).rawnode.raft
            ticks = max(1, raft.randomized_election_timeout - raft.election_elapsed)
            if raft.state == 2:  # a leader's election timer is the fixed check-quorum one
                ticks = max(1, raft.config.election_ticks - raft.election_elapsed)
            for _ in range(ticks):
                raft.tick()
        return []

    def tick(self, args, kw):
        """tick ID COUNT: advance one node's clock by COUNT ticks."""
        raft = self._node(int(args[0])).rawnode.raft
        for _ in range(int(args[1])):
            raft.tick()
        return []

    def tick_heartbeat(self, args, kw):
        for node_id in self._ids(args):
            raft = self._node(node_id).rawnode.raft
            for _ in range(raft.config.heartbeat_ticks):
                raft.tick()
        return []

    def isolate(self, args, kw):
        node_id = int(args[0])
        for other in self.nodes:
            if other != node_id:
                self.cut.add((node_id, other))
                self.cut.add((other, node_id))
        return []

    def cut_link(self, args, kw):
        a, b = int(args[0]), int(args[1])
        self.cut.add((a, b))
        if kw.get("oneway") != "true":
            self.cut.add((b, a))
        return []

    def heal(self, args, kw):
        self.cut.clear()
        return []

    def report_unreachable(self, args, kw):
        self._node(int(args[0])).rawnode.report_unreachable(int(args[1]))
        return []

    def compact(self, args, kw):
        node = self._node(int(args[0]))
        index = int(args[1])
        data = _encode_applied([e for e in node.applied if e.index <= index])
        node.storage.create_snapshot(index, node.rawnode.raft.tracker.conf_state(), data)
        node.storage.compact(index)
        return []

    def restart(self, args, kw):
        """Crash and restart: volatile state and unpersisted Readies are lost."""
        node = self._node(int(args[0]))
        node.pending_persists.clear()
        node.applied = list(_decode_applied(node.storage.snapshot().data))
        node.rawnode = RawNode(node.config, node.storage)
        return [f"INFO {node.id} restarted at term {node.rawnode.raft.term}"]

    def raft_log(self, args, kw):
        raft = self._node(int(args[0])).rawnode.raft
        ents = raft.log.all_entries()
        if not ents:
            return [f"log is empty: first index={raft.log.first_index()}, "
                    f"last index={raft.log.last_index()}"]
        return [describe_entry(e) for e in ents]

    def raft_state(self, args, kw):
        out = []
        for node_id in sorted(self.nodes):
            r = self.nodes[node_id].rawnode.raft
            role = ("(Voter)" if node_id in r.tracker.voters else
                    "(Learner)" if node_id in r.tracker.learners else "(Non-member)")
            out.append(f"{node_id}: {describe_state(r.state)} {role} Term:{r.term} "
                       f"Lead:{r.lead}")
        return out

    def status(self, args, kw):
        r = self._node(int(args[0])).rawnode.raft
        return [f"{node_id}: {pr!r}" for node_id, pr in sorted(r.tracker.progress.items())]

    def applied(self, args, kw):
        node = self._node(int(args[0]))
        return [describe_entry(e) for e in node.applied]

    COMMANDS = {
        "add-nodes": add_nodes, "campaign": campaign, "propose": propose,
        "propose-conf-change": propose_conf_change, "read-index": read_index,
        "transfer-leadership": transfer_leadership, "process-ready": process_ready,
        "ready": ready, "persist": persist, "deliver-msgs": deliver_msgs,
        "stabilize": stabilize, "tick-election": tick_election, "tick": tick,
        "tick-heartbeat": tick_heartbeat, "isolate": isolate, "cut": cut_link, "heal": heal,
        "report-unreachable": report_unreachable, "compact": compact, "restart": restart,
        "raft-log": raft_log, "raft-state": raft_state, "status": status, "applied": applied,
    }

    def run(self, line: str) -> str:
        words = shlex.split(line)
        name, rest = words[0], words[1:]
        args = [w for w in rest if "=" not in w]
        kw = dict(w.split("=", 1) for w in rest if "=" in w)
        if name not in self.COMMANDS:
            raise ValueError(f"unknown command {name!r}")
        return "\n".join(self.COMMANDS[name](self, args, kw))


def _parse_ids(text: str) -> list[int]:
    text = text.strip("()")
    return [int(x) for x in text.replace(",", " ").split()] if text else []


def _conf(voters, learners) -> str:
    s = "voters=(" + " ".join(map(str, voters)) + ")"
    if learners:
        s += " learners=(" + " ".join(map(str, learners)) + ")"
    return s


# The test state machine is the list of applied entries; a snapshot stores it as
# "index/term/type/hexdata" lines, readable in a transcript.
def _encode_applied(entries: list[Entry]) -> bytes:
    return "\n".join(f"{e.index}/{e.term}/{e.type}/{e.data.hex()}" for e in entries).encode()


def _decode_applied(data: bytes):
    for line in data.decode().splitlines():
        if line:
            index, term, type_, hexdata = line.split("/")
            yield Entry(int(term), int(index), int(type_), bytes.fromhex(hexdata))
