"""The Raft state machine: elections, replication, commitment, reads, transfers, membership.

Theory of operation: `Raft` owns one node's view of the cluster and changes only through
`step(message)` and `tick()`. Everything it wants done is appended to outboxes: `msgs` (may
leave now), `msgs_after_append` (may leave only once this node's current log and hard state are
durable: vote and append responses, and the self-acknowledgements that make a node count itself
only after its own fsync), and `read_states`. `RawNode` turns those into `Ready`s.

It follows the Raft paper (sections 5 and 6) and thesis (pre-vote 9.6, check-quorum 6.2,
ReadIndex 6.4, leadership transfer 3.10, single-server membership changes 4.1), with the
extensions etcd relies on (learners, progress states, fast back-off).

Must never: do I/O, read a clock, or use randomness other than `config.rand`. Invariants it
keeps: one vote per term; the term never decreases; a leader never overwrites its own log;
an entry commits by counting only in its own term.
"""
from __future__ import annotations

from enum import IntEnum

from petcd.common.types import (
    NONE, ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message,
    MessageType as MT, Snapshot,
)
from .config import Config, ReadOnlyOption
from .errors import Compacted, ProposalDropped, RaftError, SnapshotTemporarilyUnavailable
from .log import RaftLog
from .progress import ProgressState
from .quorum import VoteResult
from .read_only import ReadOnly
from .ready import ReadState, SoftState
from .storage import Storage, entries_size
from .tracker import ProgressTracker

# The context of a vote request sent on behalf of a leadership transfer: it bypasses the leader
# lease check (thesis 3.10), since the current leader itself asked for the election.
CAMPAIGN_TRANSFER = b"CampaignTransfer"

# Responses that may leave only after the local persist completes (paper figure 2: "respond
# after updating stable storage").
_AFTER_APPEND = frozenset((MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP))


class StateType(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


class CampaignType(IntEnum):
    PRE_ELECTION = 0
    ELECTION = 1
    TRANSFER = 2


def _vote_resp_type(t: int) -> MT:
    return MT.VOTE_RESP if t == MT.VOTE else MT.PRE_VOTE_RESP


class Raft:
    def __init__(self, config: Config, storage: Storage) -> None:
        config.validate()
        self.id = config.id
        self.config = config
        self.log = RaftLog(storage, config.max_committed_size_per_ready_bytes)
        self.tracker = ProgressTracker(config.max_inflight_msgs, config.max_inflight_bytes)
        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.state = StateType.FOLLOWER
        self.msgs: list[Message] = []
        self.msgs_after_append: list[Message] = []
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly(config.read_only_option)
        self.pending_read_index_messages: list[Message] = []
        self.read_broadcast_pending = False
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.lead_transferee = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_ticks
        self.rand = config.rand

        hard_state, conf_state = storage.initial_state()
        self._set_conf_state(conf_state)
        if hard_state != HardState():
            self._load_state(hard_state)
        if config.applied > 0:
            self.log.applied_to(config.applied)
        self.become_follower(self.term, NONE)

    # -- state --------------------------------------------------------------------------------

    def hard_state(self) -> HardState:
        return HardState(term=self.term, vote=self.vote, commit=self.log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(lead=self.lead, raft_state=self.state)

    def _load_state(self, hs: HardState) -> None:
        if hs.commit < self.log.committed or hs.commit > self.log.last_index():
            raise RaftError(
                f"hard state commit {hs.commit} is out of range "
                f"[{self.log.committed}, {self.log.last_index()}]")
        self.log.committed = hs.commit
        self.term = hs.term
        self.vote = hs.vote

    def _set_conf_state(self, cs: ConfState) -> None:
        self.tracker.set_config(frozenset(cs.voters), frozenset(cs.learners),
                                self.log.last_index() + 1)

    def promotable(self) -> bool:
        """Whether this node may campaign: a voter with no snapshot waiting to be installed."""
        pr = self.tracker.progress.get(self.id)
        return (pr is not None and not pr.is_learner and self.id in self.tracker.voters
                and self.log.unstable.snapshot is None)

    # -- sending ------------------------------------------------------------------------------

    def _send(self, type_: MT, to: int, term: int | None = None, **fields) -> None:
        # Proposals and read-index requests travel term-less: they are forwarded requests, not
        # part of the leader's term (etcd does the same).
        if term is None:
            term = 0 if type_ in (MT.PROP, MT.READ_INDEX) else self.term
        m = Message(type=type_, to=to, frm=self.id, term=term, **fields)
        if type_ in _AFTER_APPEND:
            self.msgs_after_append.append(m)
        else:
            self.msgs.append(m)

    def _forward(self, m: Message, to: int) -> None:
        self.msgs.append(Message(type=m.type, to=to, frm=m.frm or self.id, term=0,
                                 entries=m.entries, context=m.context, index=m.index))

    def send_append(self, to: int) -> None:
        self.maybe_send_append(to, send_if_empty=True)

    def maybe_send_append(self, to: int, send_if_empty: bool) -> bool:
        if to == self.id:
            return False
        pr = self.tracker.progress[to]
        if pr.is_paused():
            return False
        log = self.log
        prev_index = pr.next - 1
        if log.is_compacted(prev_index):
            return self._maybe_send_snapshot(to)
        prev_term = log.term(prev_index)
        try:
            ents = log.entries(pr.next, self.config.max_size_per_msg_bytes)
        except Compacted:
            return self._maybe_send_snapshot(to)
        if not ents and not send_if_empty:
            return False
        size = entries_size(ents) if ents else 0
        self._send(MT.APP, to, index=prev_index, log_term=prev_term, entries=tuple(ents),
                   commit=log.committed)
        pr.update_on_entries_send(len(ents), size, pr.next)
        return True

    def _maybe_send_snapshot(self, to: int) -> bool:
        pr = self.tracker.progress[to]
        if not pr.recent_active:
            return False  # it may be down: do not ship a whole snapshot into the void
        try:
            snapshot = self.log.snapshot()
        except SnapshotTemporarilyUnavailable:
            return False
        if snapshot.metadata.index == 0:
            raise RaftError("need a non-empty snapshot to catch up a follower")
        pr.become_snapshot(snapshot.metadata.index)
        self._send(MT.SNAP, to, snapshot=snapshot)
        return True

    def bcast_append(self) -> None:
        for node_id in self.tracker.progress:
            if node_id != self.id:
                self.send_append(node_id)

    def bcast_heartbeat(self, ctx: bytes = b"") -> None:
        committed = self.log.committed
        for node_id, pr in self.tracker.progress.items():
            if node_id != self.id:
                # Never tell a follower to commit past what it is known to hold.
                self._send(MT.HEARTBEAT, node_id, commit=min(pr.match, committed), context=ctx)

    def flush_read_broadcast(self) -> None:
        """Send one heartbeat round for all reads queued since the last round."""
        if not self.read_broadcast_pending:
            return
        self.read_broadcast_pending = False
        if self.state != StateType.LEADER:
            return
        ctx = self.read_only.last_pending_request_ctx()
        if ctx:
            self.read_only.recv_ack(self.id, ctx)
            self.bcast_heartbeat(ctx)

    # -- state transitions --------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_election_timeout()
        self.abort_leader_transfer()
        self.tracker.reset_votes()
        last = self.log.last_index()
        for node_id, pr in self.tracker.progress.items():
            new = self.tracker.new_progress(last + 1, pr.is_learner)
            if node_id == self.id:
                # Count only what is durable here: the rest is acknowledged to ourselves by a
                # self APP_RESP once persisted.
                new.match = self.log.stable_last_index()
            self.tracker.progress[node_id] = new
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only.reset()
        self.read_broadcast_pending = False
        self.pending_read_index_messages = []

    def _reset_randomized_election_timeout(self) -> None:
        # Paper 5.2: randomized timeouts in [T, 2T) make split votes rare.
        et = self.config.election_ticks
        self.randomized_election_timeout = et + self.rand.randrange(et)

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self.lead = lead
        self.state = StateType.FOLLOWER

    def become_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise RaftError("invalid transition [leader -> candidate]")
        self._reset(self.term + 1)
        self.vote = self.id
        self.state = StateType.CANDIDATE

    def become_pre_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise RaftError("invalid transition [leader -> pre-candidate]")
        # Thesis 9.6: a pre-candidate changes neither its term nor its vote.
        self.tracker.reset_votes()
        self.lead = NONE
        self.state = StateType.PRE_CANDIDATE

    def become_leader(self) -> None:
        if self.state == StateType.FOLLOWER:
            raise RaftError("invalid transition [follower -> leader]")
        self._reset(self.term)
        self.lead = self.id
        self.state = StateType.LEADER
        pr = self.tracker.progress[self.id]
        pr.become_replicate()
        pr.match = self.log.stable_last_index()
        pr.recent_active = True
        # Paper 8: commit an empty entry of our term at once, to learn the commit index.
        self._append_entry([Entry(term=0, index=0)])
        self.uncommitted_size = 0  # the empty entry does not count against the quota
        # Block membership changes until that empty entry is applied: a single-server change
        # must not start before the leader has committed an entry of its own term (Ongaro,
        # raft-dev 2015, "bug in single-server membership changes").
        self.pending_conf_index = self.log.last_index()

    # -- ticks --------------------------------------------------------------------------------

    def tick(self) -> None:
        if self.state == StateType.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def past_election_timeout(self) -> bool:
        return self.election_elapsed >= self.randomized_election_timeout

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.past_election_timeout():
            self.election_elapsed = 0
            self.step(Message(type=MT.HUP, frm=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.config.election_ticks:
            self.election_elapsed = 0
            if self.config.check_quorum:
                self.step(Message(type=MT.CHECK_QUORUM, frm=self.id))
            # A transfer that did not finish within an election timeout is abandoned.
            if self.state == StateType.LEADER and self.lead_transferee != NONE:
                self.abort_leader_transfer()
                if self.id not in self.tracker.voters:
                    self._hand_off_leadership()  # a removed leader tries again
        if self.state != StateType.LEADER:
            return
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self.step(Message(type=MT.BEAT, frm=self.id))

    # -- elections ----------------------------------------------------------------------------

    def hup(self, campaign_type: CampaignType) -> None:
        if self.state == StateType.LEADER:
            return
        if not self.promotable():
            return
        if self._has_unapplied_conf_change():
            # The outcome of an unapplied change could make this election unsafe to count.
            return
        self.campaign(campaign_type)

    def _has_unapplied_conf_change(self) -> bool:
        lo, hi = self.log.applied + 1, self.log.committed + 1
        if lo >= hi:
            return False
        try:
            ents = self.log.slice(lo, hi)
        except Compacted:
            return False
        return any(e.type == EntryType.CONF_CHANGE for e in ents)

    def campaign(self, campaign_type: CampaignType) -> None:
        if campaign_type == CampaignType.PRE_ELECTION:
            self.become_pre_candidate()
            vote_type, term = MT.PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            vote_type, term = MT.VOTE, self.term
        ctx = CAMPAIGN_TRANSFER if campaign_type == CampaignType.TRANSFER else b""
        last_index, last_term = self.log.last_index(), self.log.last_term()
        for node_id in sorted(self.tracker.voters):
            if node_id == self.id:
                # Our own vote counts only once it is durable: it arrives as a response after
                # the persist, like any other.
                self._send(_vote_resp_type(vote_type), self.id, term=term)
                continue
            self._send(vote_type, node_id, term=term, index=last_index, log_term=last_term,
                       context=ctx)

    def _poll(self, node_id: int, granted: bool) -> VoteResult:
        self.tracker.record_vote(node_id, granted)
        return self.tracker.tally_votes()[2]

    # -- step ---------------------------------------------------------------------------------

    def step(self, m: Message) -> None:
        if m.term == 0:
            pass  # local message
        elif m.term > self.term:
            if m.type in (MT.VOTE, MT.PRE_VOTE):
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.config.check_quorum and self.lead != NONE
                            and self.election_elapsed < self.config.election_ticks)
                if not force and in_lease:
                    # Thesis 4.2.3: we heard from a live leader within the minimum election
                    # timeout, so this candidate is disruptive (partitioned or removed): ignore.
                    return
            if m.type == MT.PRE_VOTE:
                pass  # never change term on a pre-vote
            elif m.type == MT.PRE_VOTE_RESP and not m.reject:
                pass  # our term rises when we win the pre-vote and campaign for real
            elif m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.config.check_quorum or self.config.pre_vote) and m.type in (
                    MT.HEARTBEAT, MT.APP):
                # A stale leader (e.g. after a partition) would never learn our term if we
                # stayed silent, since with pre-vote we do not raise terms on our own; tell it.
                self._send(MT.APP_RESP, m.frm)
            elif m.type == MT.PRE_VOTE:
                self._send(MT.PRE_VOTE_RESP, m.frm, term=self.term, reject=True)
            return

        t = m.type
        if t == MT.HUP:
            self.hup(CampaignType.PRE_ELECTION if self.config.pre_vote
                     else CampaignType.ELECTION)
        elif t == MT.STORAGE_APPEND_RESP:
            self._on_storage_append_resp(m)
        elif t == MT.VOTE or t == MT.PRE_VOTE:
            self._handle_vote_request(m)
        elif self.state == StateType.LEADER:
            self._step_leader(m)
        elif self.state == StateType.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _on_storage_append_resp(self, m: Message) -> None:
        if m.index:
            self.log.stable_to(m.index, m.log_term)
        if m.snapshot is not None:
            index = m.snapshot.metadata.index
            self.log.stable_snap_to(index)
            # The caller installed the snapshot into its state machine before reporting it.
            self.log.applied_to(index)

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (self.vote == m.frm
                    or (self.vote == NONE and self.lead == NONE)
                    or (m.type == MT.PRE_VOTE and m.term > self.term))
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # A pre-vote reply carries the candidate's future term so that it counts there.
            self._send(_vote_resp_type(m.type), m.frm, term=m.term)
            if m.type == MT.VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(_vote_resp_type(m.type), m.frm, term=self.term, reject=True)

    # -- leader -------------------------------------------------------------------------------

    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == MT.BEAT:
            self.bcast_heartbeat(self.read_only.last_pending_request_ctx())
            return
        if t == MT.CHECK_QUORUM:
            if not self.tracker.quorum_active(self.id):
                # Thesis 6.2: a leader that cannot hear a quorum steps down, so clients go
                # elsewhere instead of waiting on a leader that cannot commit.
                self.become_follower(self.term, NONE)
            for node_id, pr in self.tracker.progress.items():
                if node_id != self.id:
                    pr.recent_active = False
            return
        if t == MT.PROP:
            self._leader_propose(m)
            return
        if t == MT.READ_INDEX:
            self._leader_read_index(m)
            return

        pr = self.tracker.progress.get(m.frm)
        if pr is None:
            return
        if t == MT.APP_RESP:
            self._leader_app_resp(m, pr)
        elif t == MT.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.msg_app_flow_paused = False
            if pr.state == ProgressState.REPLICATE and pr.inflights.full():
                # The follower answers heartbeats but not our appends: they may all have been
                # lost (a drop, or a follower restart before its persist), and a full window
                # would then never drain. Free one slot so one append goes out; a follower that
                # misses entries rejects it and we fall back to probing (etcd does the same).
                pr.inflights.free_first_one()
            if pr.match < self.log.last_index():
                self.send_append(m.frm)
            if self.read_only.option != ReadOnlyOption.SAFE or not m.context:
                return
            acks = self.read_only.recv_ack(m.frm, m.context)
            if acks is None or len(acks & self.tracker.voters) < len(self.tracker.voters) // 2 + 1:
                return
            for status in self.read_only.advance(m.context):
                self._respond_read_index(status.request, status.index)
        elif t == MT.SNAP_STATUS:
            if pr.state != ProgressState.SNAPSHOT:
                return
            if m.reject:
                pr.pending_snapshot = 0
            pr.become_probe()
            # Wait for a heartbeat response before probing: the follower may still be busy.
            pr.msg_app_flow_paused = True
        elif t == MT.UNREACHABLE:
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
        elif t == MT.TRANSFER_LEADER:
            self._leader_transfer(m, pr)

    def _leader_propose(self, m: Message) -> None:
        if not m.entries:
            raise RaftError("stepped an empty proposal")
        if self.id not in self.tracker.progress:
            self._drop(m, ProposalDropped.NOT_A_MEMBER)
            return
        if self.lead_transferee != NONE:
            self._drop(m, ProposalDropped.TRANSFERRING)
            return
        entries = list(m.entries)
        last = self.log.last_index()
        for i, e in enumerate(entries):
            if e.type != EntryType.CONF_CHANGE:
                continue
            refused = self._refuse_conf_change(e)
            if refused:
                if m.frm == NONE and len(entries) == 1:  # a direct call (see _drop)
                    raise ProposalDropped(refused)
                # Keep the slot so the batch's indexes stay as the proposer expects; an empty
                # entry applies as a no-op (etcd does the same).
                entries[i] = Entry(term=0, index=0)
            else:
                self.pending_conf_index = last + i + 1
        if not self._append_entry(entries):
            self._drop(m, ProposalDropped.TOO_LARGE)
            return
        self.bcast_append()

    def _refuse_conf_change(self, e: Entry) -> str:
        if self.pending_conf_index > self.log.applied:
            return "a configuration change is pending; apply it before proposing another"
        try:
            cc = ConfChange.decode(e.data)
        except ValueError:
            return "malformed configuration change"
        if cc.type == ConfChangeType.REMOVE_NODE and self.tracker.voters == {cc.node_id}:
            return "cannot remove the last voter"
        if cc.type == ConfChangeType.ADD_LEARNER_NODE and cc.node_id in self.tracker.voters:
            return "cannot demote a voter to a learner"
        return ""

    def _is_local(self, m: Message) -> bool:
        return m.frm == NONE or m.frm == self.id

    def _drop(self, m: Message, reason: str) -> None:
        # Only a local caller can be told; a forwarded proposal times out at its origin, as in
        # etcd. A direct call has no sender: a proposal we forwarded can come back to us from
        # the network carrying our own id (we became leader meanwhile), and a message from the
        # network must never raise (errors.py).
        if m.frm == NONE:
            raise ProposalDropped(reason)

    def _append_entry(self, entries: list[Entry]) -> bool:
        li = self.log.last_index()
        term = self.term
        ents = [Entry(term, li + 1 + i, e.type, e.data) for i, e in enumerate(entries)]
        max_bytes = self.config.max_uncommitted_entries_bytes
        if max_bytes:
            size = sum(len(e.data) for e in ents)
            # Always admit a proposal when nothing is uncommitted, so one big entry can pass.
            if self.uncommitted_size > 0 and size > 0 and self.uncommitted_size + size > max_bytes:
                return False
            self.uncommitted_size += size
        li = self.log.append(ents)
        # The leader acknowledges its own entries only once they are durable (thesis 10.2.1).
        self._send(MT.APP_RESP, self.id, index=li)
        return True

    def reduce_uncommitted_size(self, entries: list[Entry]) -> None:
        if self.uncommitted_size == 0:
            return
        size = sum(len(e.data) for e in entries)
        self.uncommitted_size = max(0, self.uncommitted_size - size)

    def _leader_app_resp(self, m: Message, pr) -> None:
        pr.recent_active = True
        if m.reject:
            next_probe = m.reject_hint
            if m.log_term > 0:
                next_probe, _ = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decr_to(m.index, next_probe):
                if pr.state == ProgressState.REPLICATE:
                    pr.become_probe()
                self.send_append(m.frm)
            return
        old_paused = pr.is_paused()
        if not (pr.maybe_update(m.index)
                or (pr.match == m.index and pr.state == ProgressState.PROBE)):
            return
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state == ProgressState.SNAPSHOT and pr.match + 1 >= self.log.first_index():
            # The snapshot landed (or the follower caught up by log): resume streaming.
            pr.become_probe()
            pr.become_replicate()
        elif pr.state == ProgressState.REPLICATE:
            pr.inflights.free_le(m.index)

        if self._maybe_commit():
            self._release_pending_read_index_messages()
            self.bcast_append()
        elif old_paused and m.frm != self.id:
            self.send_append(m.frm)
        if m.frm != self.id:
            while self.maybe_send_append(m.frm, send_if_empty=False):
                pass
        if m.frm == self.lead_transferee and pr.match == self.log.last_index():
            self._send_timeout_now(m.frm)

    def _maybe_commit(self) -> bool:
        return self.log.maybe_commit(self.tracker.committed(), self.term)

    def _committed_entry_in_current_term(self) -> bool:
        return self.log.term(self.log.committed) == self.term

    def _leader_read_index(self, m: Message) -> None:
        if self.tracker.voters == {self.id}:
            # No one else could have been elected: our commit index is the latest. (A removed
            # leader handing off to a single voter is not alone: it confirms like any other.)
            self._respond_read_index(m, self.log.committed)
            return
        if not self._committed_entry_in_current_term():
            # Thesis 6.4 step 1: until an entry of our term commits, our commit index may be
            # behind the previous leader's; hold the read until it is not.
            self.pending_read_index_messages.append(m)
            return
        self._send_read_index(m)

    def _send_read_index(self, m: Message) -> None:
        if self.read_only.option == ReadOnlyOption.LEASE_BASED:
            self._respond_read_index(m, self.log.committed)
            return
        self.read_only.add_request(self.log.committed, m)
        self.read_broadcast_pending = True

    def _release_pending_read_index_messages(self) -> None:
        if not self.pending_read_index_messages or not self._committed_entry_in_current_term():
            return
        pending, self.pending_read_index_messages = self.pending_read_index_messages, []
        for m in pending:
            self._send_read_index(m)

    def _respond_read_index(self, req: Message, index: int) -> None:
        if self._is_local(req):
            self.read_states.append(ReadState(index=index, request_ctx=req.context))
        else:
            self._send(MT.READ_INDEX_RESP, req.frm, index=index, context=req.context)

    def _leader_transfer(self, m: Message, pr) -> None:
        if pr.is_learner:
            return
        transferee = m.frm
        if self.lead_transferee != NONE:
            if self.lead_transferee == transferee:
                return  # already under way
            self.abort_leader_transfer()
        if transferee == self.id:
            return
        # Thesis 3.10: stop accepting proposals, bring the transferee up to date, then tell it
        # to campaign at once. It must finish within an election timeout.
        self.election_elapsed = 0
        self.lead_transferee = transferee
        if pr.match == self.log.last_index():
            self._send_timeout_now(transferee)
        else:
            self.send_append(transferee)

    def _send_timeout_now(self, to: int) -> None:
        self._send(MT.TIMEOUT_NOW, to)
        if self.id not in self.tracker.voters:
            # A removed leader's hand-off is done: the transferee holds our whole log, so we
            # would vote for it even if this message were lost and it had to campaign on its
            # own (see _hand_off_leadership). Nothing is left for us to lead.
            self.become_follower(self.term, NONE)

    def abort_leader_transfer(self) -> None:
        self.lead_transferee = NONE

    # -- candidate ----------------------------------------------------------------------------

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        my_resp = MT.PRE_VOTE_RESP if self.state == StateType.PRE_CANDIDATE else MT.VOTE_RESP
        if t == MT.PROP or t == MT.READ_INDEX:
            self._drop(m, ProposalDropped.NO_LEADER)
        elif t == MT.APP:
            self.become_follower(m.term, m.frm)
            self._handle_append_entries(m)
        elif t == MT.HEARTBEAT:
            self.become_follower(m.term, m.frm)
            self._handle_heartbeat(m)
        elif t == MT.SNAP:
            self.become_follower(m.term, m.frm)
            self._handle_snapshot(m)
        elif t == my_resp:
            result = self._poll(m.frm, not m.reject)
            if result == VoteResult.WON:
                if self.state == StateType.PRE_CANDIDATE:
                    self.campaign(CampaignType.ELECTION)
                else:
                    self.become_leader()
                    self.bcast_append()
            elif result == VoteResult.LOST:
                # A pre-candidate that lost keeps its term: nothing was disturbed.
                self.become_follower(self.term, NONE)

    # -- follower -----------------------------------------------------------------------------

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MT.PROP:
            if self.lead == NONE:
                self._drop(m, ProposalDropped.NO_LEADER)
            elif self.config.disable_proposal_forwarding:
                self._drop(m, ProposalDropped.NOT_LEADER_NO_FORWARDING)
            else:
                self._forward(m, self.lead)
        elif t == MT.APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_append_entries(m)
        elif t == MT.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_heartbeat(m)
        elif t == MT.SNAP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == MT.TRANSFER_LEADER:
            if self.lead != NONE:
                self._forward(m, self.lead)
        elif t == MT.TIMEOUT_NOW:
            # The leader asked us to take over: skip pre-vote, the cluster expects this election.
            self.hup(CampaignType.TRANSFER)
        elif t == MT.READ_INDEX:
            if self.lead == NONE:
                self._drop(m, ProposalDropped.NO_LEADER)
            else:
                self._forward(m, self.lead)
        elif t == MT.READ_INDEX_RESP:
            self.read_states.append(ReadState(index=m.index, request_ctx=m.context))

    def _handle_append_entries(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self._send(MT.APP_RESP, m.frm, index=log.committed)
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._send(MT.APP_RESP, m.frm, index=last_new)
            return
        # Tell the leader where our log could match, so it backs off a term at a time.
        hint_index = min(m.index, log.last_index())
        hint_index, hint_term = log.find_conflict_by_term(hint_index, m.log_term)
        self._send(MT.APP_RESP, m.frm, index=m.index, reject=True, reject_hint=hint_index,
                   log_term=hint_term)

    def _handle_heartbeat(self, m: Message) -> None:
        self.log.commit_to(m.commit)
        self._send(MT.HEARTBEAT_RESP, m.frm, context=m.context)

    def _handle_snapshot(self, m: Message) -> None:
        if m.snapshot is not None and self.restore(m.snapshot):
            self._send(MT.APP_RESP, m.frm, index=self.log.last_index())
        else:
            self._send(MT.APP_RESP, m.frm, index=self.log.committed)

    def restore(self, snapshot: Snapshot) -> bool:
        meta = snapshot.metadata
        if meta.index <= self.log.committed:
            return False
        if self.state != StateType.FOLLOWER:
            # Defense in depth (as etcd): only a follower installs a snapshot.
            self.become_follower(self.term + 1, NONE)
            return False
        cs = meta.conf_state
        # The snapshot may predate our own addition (a node that joins later is caught up from
        # the leader's last snapshot); we install it anyway, stay a non-member that cannot
        # campaign, and become a member when the entry that added us is applied.
        if self.log.match_term(meta.index, meta.term):
            # We already hold this prefix: just fast-forward the commit index.
            self.log.commit_to(meta.index)
            return False
        if self.log.applying > self.log.applied:
            # Entries we handed out are not applied yet. They may hold conf changes that the
            # caller would then apply on top of the snapshot's config, which already includes
            # them (e.g. re-adding a node the snapshot saw removed). Refuse for now; the leader
            # sends the snapshot again. (etcd's server instead blocks its raft loop until
            # committed conf changes are applied.)
            return False
        self.log.restore(snapshot)
        self.tracker.progress.clear()
        self._set_conf_state(cs)
        pr = self.tracker.progress.get(self.id)
        if pr is not None:
            pr.match = 0  # not durable until the snapshot is persisted
        return True

    # -- membership ---------------------------------------------------------------------------

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        if cc.type == ConfChangeType.UPDATE_NODE:
            # Only the application's view of the member changes (etcd's ConfChangeUpdateNode);
            # it goes through the log so that every member records it at the same position.
            return self.tracker.conf_state()
        voters = set(self.tracker.voters)
        learners = set(self.tracker.learners)
        node = cc.node_id
        if cc.type == ConfChangeType.ADD_NODE:
            learners.discard(node)
            voters.add(node)
        elif cc.type == ConfChangeType.ADD_LEARNER_NODE:
            if node not in voters:
                learners.add(node)
        elif cc.type == ConfChangeType.REMOVE_NODE:
            voters.discard(node)
            learners.discard(node)
        if not voters:
            # Refused at proposal time; if it arrives anyway, keep the last voter.
            return self.tracker.conf_state()
        self.tracker.set_config(frozenset(voters), frozenset(learners),
                                self.log.last_index() + 1)
        return self._switch_to_config()

    def _switch_to_config(self) -> ConfState:
        cs = self.tracker.conf_state()
        if self.state != StateType.LEADER:
            return cs
        # The quorum changed, which may commit entries at once (e.g. after a removal).
        if self._maybe_commit():
            self.bcast_append()
        else:
            for node_id in self.tracker.progress:
                self.maybe_send_append(node_id, send_if_empty=False)
        if self.lead_transferee != NONE and self.lead_transferee not in self.tracker.voters:
            self.abort_leader_transfer()
        if self.id not in self.tracker.voters:
            self._hand_off_leadership()
        return cs

    def _hand_off_leadership(self) -> None:
        """We were removed (or demoted) while leading: make the most caught-up voter leader.

        Stepping down at once could leave the cluster without a leader for good: a voter that
        has not yet learned that our removal committed still counts us, needs our vote, and
        would never get it if our log is longer than its own. A transfer (thesis 3.10) first
        brings the transferee up to our last index, so we can vote for it; we step down when we
        send it TimeoutNow. Meanwhile we keep the others' leases, commit with the new quorum
        (which does not count us, thesis 4.2.2) and refuse proposals.
        """
        voters = sorted(self.tracker.voters)
        if not voters:
            self.become_follower(self.term, NONE)
            return
        best = max(voters, key=lambda v: self.tracker.progress[v].match)
        self._leader_transfer(Message(type=MT.TRANSFER_LEADER, frm=best),
                              self.tracker.progress[best])
