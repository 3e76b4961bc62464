"""The raft stage's pure part: a RawNode, its storage cache, and the routing of its output.

Theory of operation: the loop (stages/raft/main.py) feeds inputs in batches: proposals and
read-index requests from api, messages from peers, persist completions from wal, applied
indexes from apply, ticks. After each batch it calls `flush()`, which drains every Ready and
routes its parts into outboxes: entries and hard state to wal (`appends`), messages that may
leave now to transport (`peer_messages`), committed entries to apply (`applies`), read states
and status to api. A Ready's persist_messages to peers ride in its AppendRequest, encoded for
transport, and wal sends them after its fdatasync (one hop shorter than back through here);
those to this node wait in `pending` until wal reports the `seq` done, and are stepped then,
as the entries enter the storage cache (DESIGN.md 3).

A Ready whose only change is the commit index needs no fsync (etcd's MustSync) and holds
nothing back, so it does not make a trip to wal of its own: its hard state rides with the next
append. A crash may then leave the WAL's commit index behind, which Raft allows (etcd does not
sync it either): the leader re-establishes the commit, and apply's index covers the rest.
The status api sees is republished when the leadership changes (term, leader, role), not at
every commit: api's copy of the commit index is refreshed by the loop's periodic status.

Must never: deliver a persist message before its Ready is durable (those to peers leave only
with the AppendRequest, which wal sends on after writing it), or hand out a Ready's entries to
apply before they are in the cache. Does no I/O itself.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from petcd.common.pipeline import (
    AppendRequest, ApplyBatch, ApplySnapshot, PeerFrame, Proposal, ProposalFailed, RaftStatus,
    ReadIndexRequest, ReadIndexResult,
)
from petcd.common.types import HardState, Message, Snapshot
from petcd.stages.raft.core import MemoryStorage, ProposalDropped, RawNode, Ready


@dataclass
class Outbox:
    appends: list[AppendRequest] = field(default_factory=list)
    peer_messages: list[Message] = field(default_factory=list)
    applies: list[ApplyBatch | ApplySnapshot] = field(default_factory=list)
    read_results: list[tuple[int, ReadIndexResult]] = field(default_factory=list)
    failures: list[tuple[int, ProposalFailed]] = field(default_factory=list)
    status: RaftStatus | None = None


class RaftNode:
    def __init__(self, rawnode: RawNode, storage: MemoryStorage) -> None:
        self.rawnode = rawnode
        self.storage = storage
        self.node_id = rawnode.raft.id
        self._pending: deque[tuple[int, Ready, HardState | None]] = deque()
        self._seq = 0
        self._read_workers: dict[bytes, int] = {}
        self._last_status: RaftStatus | None = None
        self._deferred_hard_state: HardState | None = None
        self.out = Outbox()

    # -- inputs -------------------------------------------------------------------------------

    def propose(self, proposals: list[Proposal]) -> None:
        if not proposals:
            return
        try:
            self.rawnode.propose_batch([p.data for p in proposals])
        except ProposalDropped as e:
            self.out.failures += [(p.worker, ProposalFailed(p.request_id, e.reason))
                                  for p in proposals]

    def read_index(self, requests: list[ReadIndexRequest]) -> None:
        for r in requests:
            try:
                self.rawnode.read_index(r.ctx)
            except ProposalDropped:
                continue  # no leader: the api side times out, as etcd does
            self._read_workers[r.ctx] = r.worker

    def step(self, messages: list[Message]) -> None:
        for m in messages:
            try:
                self.rawnode.step(m)
            except Exception:  # a stale or foreign message must not stop the member
                continue

    def tick(self) -> None:
        self.rawnode.tick()

    def append_done(self, seq: int) -> None:
        """wal made the Ready numbered seq durable: cache its entries, step its messages to this
        node (wal has sent those to peers)."""
        expect, rd, hard_state = self._pending.popleft()
        if expect != seq:
            raise RuntimeError(f"wal acknowledged append {seq}, expected {expect}")
        self.storage.save(rd.snapshot, hard_state, rd.entries)
        if rd.snapshot is not None:
            # The WAL holds the snapshot now, so apply may install the store transport received
            # for it. The core hands out no entry after the snapshot before this point, so on
            # applyc the install comes before every entry that follows it.
            meta = rd.snapshot.metadata
            self.out.applies.append(ApplySnapshot(meta.index, meta.term))
        for m in rd.persist_messages:
            if m.to == self.node_id:   # those to peers left from wal (AppendRequest.messages)
                self.rawnode.step(m)

    def applied_to(self, index: int) -> None:
        self.rawnode.applied_to(index)

    def maybe_snapshot(self, snapshot_count: int, catch_up_entries: int) -> Snapshot | None:
        """Every `snapshot_count` applied entries, snapshot the log at the applied index and
        drop the cached entries before it, keeping `catch_up_entries` for slow followers
        (etcd's SnapshotCount and SnapshotCatchUpEntries). Bounds the cache and the WAL."""
        applied = self.rawnode.raft.log.applied
        st = self.storage
        if applied - st.snapshot().metadata.index < snapshot_count:
            return None
        snap = st.create_snapshot(applied, self.rawnode.raft.tracker.conf_state(), b"")
        compact_to = applied - catch_up_entries
        if compact_to > st.first_index():
            st.compact(compact_to)
        return snap

    # -- outputs ------------------------------------------------------------------------------

    def flush(self) -> Outbox:
        rn = self.rawnode
        while rn.has_ready():
            rd = rn.ready()
            out = self.out
            out.peer_messages += rd.messages
            if rd.must_persist:
                if (not rd.entries and rd.snapshot is None and not rd.persist_messages
                        and not rd.must_sync):
                    self._deferred_hard_state = rd.hard_state
                else:
                    self._seq += 1
                    hard_state = rd.hard_state or self._deferred_hard_state
                    self._deferred_hard_state = None
                    to_peers = [m for m in rd.persist_messages if m.to != self.node_id]
                    out.appends.append(AppendRequest(
                        seq=self._seq, hard_state=hard_state, entries=tuple(rd.entries),
                        snapshot=rd.snapshot, must_sync=rd.must_sync,
                        messages=tuple(PeerFrame.per_peer(to_peers)) if to_peers else ()))
                    self._pending.append((self._seq, rd, hard_state))
            if rd.committed_entries:
                out.applies.append(ApplyBatch(tuple(rd.committed_entries), rn.raft.term))
            for rs in rd.read_states:
                worker = self._read_workers.pop(rs.request_ctx, None)
                if worker is not None:
                    out.read_results.append((worker, ReadIndexResult(rs.request_ctx, rs.index)))
        status = raft_status(rn.raft)
        last = self._last_status
        if last is None or status.term != last.term or status.lead != last.lead or (
                status.raft_state != last.raft_state or status.is_learner != last.is_learner):
            self._last_status = status
            self.out.status = status
        out, self.out = self.out, Outbox()
        return out


def raft_status(r) -> RaftStatus:
    return RaftStatus(term=r.term, lead=r.lead, commit=r.log.committed, raft_state=int(r.state),
                      is_learner=r.id in r.tracker.learners)
