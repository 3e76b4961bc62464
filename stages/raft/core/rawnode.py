"""RawNode: the caller's handle on the core, and the Ready contract.

Theory of operation: the caller drives everything. It calls `tick()` on a timer, `step()` for
every message from a peer, and `propose()`, `read_index()`, `transfer_leader()` for its own
requests, then asks `has_ready()` / `ready()` for the work that resulted. A Ready is handed out
once: its entries are marked in progress, and its committed entries as applying, so the next
Ready holds only new work. The caller reports completions by stepping the Ready's
`persist_messages` after the persist (a STORAGE_APPEND_RESP among them moves entries out of the
unstable tail) and calling `applied_to()` after the state machine has applied entries.

Nothing here blocks, waits, or touches a disk or a socket.
"""
from __future__ import annotations

from dataclasses import dataclass

from petcd.common.types import (
    NONE, ConfChange, ConfState, Entry, EntryType, HardState, Message, MessageType as MT,
)
from .config import Config
from .errors import RaftError, StepLocalMessage, StepPeerNotFound
from .progress import Progress
from .raft import Raft, StateType
from .ready import Ready, SoftState
from .storage import Storage

_LOCAL_ONLY = frozenset((MT.HUP, MT.BEAT, MT.CHECK_QUORUM))
_RESPONSES = frozenset((MT.APP_RESP, MT.VOTE_RESP, MT.HEARTBEAT_RESP, MT.PRE_VOTE_RESP,
                        MT.UNREACHABLE, MT.SNAP_STATUS))


@dataclass(frozen=True, slots=True)
class Status:
    id: int
    hard_state: HardState
    soft_state: SoftState
    applied: int
    lead_transferee: int
    progress: dict[int, Progress]


class RawNode:
    def __init__(self, config: Config, storage: Storage) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft_state = self.raft.soft_state()
        self._prev_hard_state = self.raft.hard_state()

    def bootstrap(self, conf_changes: list[ConfChange]) -> None:
        """Start a brand-new cluster: the initial members as committed entries of term 1.

        Every initial member writes the same entries, so all logs agree from index 1 (etcd's
        Bootstrap). The changes take effect at once; they are also handed out as committed
        entries so the application records the members.
        """
        r = self.raft
        if r.log.last_index() != 0:
            raise RaftError("can only bootstrap an empty log")
        r.become_follower(1, NONE)
        ents = [Entry(1, i + 1, EntryType.CONF_CHANGE, cc.encode())
                for i, cc in enumerate(conf_changes)]
        r.log.append(ents)
        r.log.committed = len(ents)
        for cc in conf_changes:
            r.apply_conf_change(cc)

    # -- inputs -------------------------------------------------------------------------------

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (with pre-vote if configured), as if the timeout fired."""
        self.raft.step(Message(type=MT.HUP, frm=self.raft.id))

    def propose(self, data: bytes) -> None:
        self.raft.step(Message(type=MT.PROP, entries=(Entry(0, 0, EntryType.NORMAL, data),)))

    def propose_batch(self, datas: list[bytes]) -> None:
        """Propose many entries in one message: one append, one broadcast."""
        self.raft.step(Message(type=MT.PROP, entries=tuple(
            Entry(0, 0, EntryType.NORMAL, d) for d in datas)))

    def propose_conf_change(self, cc: ConfChange) -> None:
        self.raft.step(Message(type=MT.PROP, entries=(
            Entry(0, 0, EntryType.CONF_CHANGE, cc.encode()),)))

    def step(self, m: Message) -> None:
        if m.type in _LOCAL_ONLY:
            raise StepLocalMessage(f"{m.type.name} is local-only")
        if m.type in _RESPONSES and m.frm not in self.raft.tracker.progress \
                and m.frm != self.raft.id:
            raise StepPeerNotFound(f"response from unknown node {m.frm}")
        self.raft.step(m)

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read point; answered by a ReadState carrying ctx."""
        if not ctx:
            raise ValueError("read_index needs a non-empty, unique request context")
        self.raft.step(Message(type=MT.READ_INDEX, context=ctx))

    def transfer_leader(self, transferee: int) -> None:
        # etcd's convention: the message comes "from" the transferee.
        self.raft.step(Message(type=MT.TRANSFER_LEADER, frm=transferee))

    def transfer_leadership_on_stop(self) -> int:
        """Pick the most caught-up voter and hand leadership to it; NONE if there is none."""
        r = self.raft
        if r.state != StateType.LEADER:
            return NONE
        best, best_match = NONE, -1
        for node_id in sorted(r.tracker.voters):
            pr = r.tracker.progress[node_id]
            if node_id != r.id and pr.match > best_match:
                best, best_match = node_id, pr.match
        if best != NONE:
            self.transfer_leader(best)
        return best

    def report_unreachable(self, node_id: int) -> None:
        self.raft.step(Message(type=MT.UNREACHABLE, frm=node_id))

    def report_snapshot(self, node_id: int, failed: bool) -> None:
        self.raft.step(Message(type=MT.SNAP_STATUS, frm=node_id, reject=failed))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        return self.raft.apply_conf_change(cc)

    def applied_to(self, index: int) -> None:
        self.raft.log.applied_to(index)

    # -- outputs ------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        r = self.raft
        log = r.log
        return bool(
            r.msgs or r.msgs_after_append or r.read_states or r.read_broadcast_pending
            or r.soft_state() != self._prev_soft_state
            or r.hard_state() != self._prev_hard_state
            or log.unstable.next_entries() or log.unstable.next_snapshot() is not None
            or log.has_next_committed_ents())

    def ready(self) -> Ready:
        r = self.raft
        r.flush_read_broadcast()
        log = r.log

        soft = r.soft_state()
        soft_out = soft if soft != self._prev_soft_state else None
        hard = r.hard_state()
        hard_out = hard if hard != self._prev_hard_state else None
        term_or_vote_changed = hard_out is not None and (
            hard.term != self._prev_hard_state.term or hard.vote != self._prev_hard_state.vote)
        entries = log.next_unstable_ents()
        snapshot = log.next_unstable_snapshot()
        committed = log.next_committed_ents()

        persist_messages = r.msgs_after_append
        if entries or snapshot is not None:
            last = entries[-1] if entries else None
            # Reported back after the persist: moves these entries out of the unstable tail.
            persist_messages.append(Message(
                type=MT.STORAGE_APPEND_RESP, to=r.id, frm=r.id,
                index=last.index if last else 0, log_term=last.term if last else 0,
                snapshot=snapshot))

        rd = Ready(soft_state=soft_out, hard_state=hard_out, entries=entries, snapshot=snapshot,
                   committed_entries=committed, messages=r.msgs,
                   persist_messages=persist_messages, read_states=r.read_states,
                   _term_or_vote_changed=term_or_vote_changed)

        # Accept: everything in this Ready is now the caller's.
        r.msgs = []
        r.msgs_after_append = []
        r.read_states = []
        log.accept_unstable()
        if committed:
            log.accept_applying(committed[-1].index)
            if r.state == StateType.LEADER:
                r.reduce_uncommitted_size(committed)
        self._prev_soft_state = soft
        self._prev_hard_state = hard
        return rd

    def status(self) -> Status:
        r = self.raft
        return Status(id=r.id, hard_state=r.hard_state(), soft_state=r.soft_state(),
                      applied=r.log.applied, lead_transferee=r.lead_transferee,
                      progress=dict(r.tracker.progress) if r.state == StateType.LEADER else {})
