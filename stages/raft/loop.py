"""The raft stage's loop: the only process that decides (DESIGN.md section 1).

Theory of operation: at start, wait for wal's Recovered (the log on disk) and apply's first
Applied (how far LMDB got), rebuild the log cache, and build the core; a brand-new member
bootstraps the initial cluster as committed conf-change entries. Then each turn: drain every
input (proposals and read-index asks from api, peer messages, wal completions, applied
indexes), tick on the heartbeat timer, and after the turn flush the node: appends to wal,
messages to transport, committed entries to apply, read states and status to api.

Conf changes take effect in the core when their entry is handed to apply (not when LMDB has it),
and are replayed from the last raft snapshot on restart, as etcd does; apply skips entries at or
below its own applied index, so nothing is applied twice. Membership changes asked by clients
are checked and proposed by the leader (member_router.py); the member table apply reports is
passed on to transport. A member that applies its own removal reports it to the supervisor
once it no longer leads, which stops the member (etcd stops a removed member the same way).
"""
from __future__ import annotations

import os
import random
import signal
import time
from typing import Callable

import zmq

from petcd.common import failpoint
from petcd.common.codec import encode
from petcd.common.errors import ErrBadLeaderTransferee, ErrNotLeader
from petcd.common.log import Throttled
from petcd.common import identity
from petcd.common.membership import (
    MemberChangeAsk, MemberChangeRefused, MemberRemoved, Membership, PeerActivity,
)
from petcd.common.pipeline import (
    AppendDone, Applied, ApplyBatch, Many, PeerFrame, PeerMessages, PeerUnreachable, Proposal,
    Defragment, RaftStatus, ReadIndexRequest, Recovered, SaveSnapshot, SnapshotStatus,
    TransferLeadership,
    TransferLeadershipStarted,
)
from petcd.common.types import (
    EMPTY_HARD_STATE, ConfChange, ConfChangeType, EntryType, HardState,
)
from petcd.ipc.channel import Receiver, Sender
from petcd.ipc.loop import Loop
from petcd.ipc.pipes import BROADCAST_TOPIC, worker_topic
from petcd.ipc.stage import StageContext
from petcd.common.lease import LeaseAnswer, LeaseAsk, LeaseChanges
from petcd.stages.raft.core import Config, MemoryStorage, ProposalDropped, RawNode
from petcd.stages.raft.core.raft import StateType
from .append_queue import AppendQueue
from .lessor import Lessor
from .lease_router import LeaseRouter
from .member_router import MemberRouter
from .node import RaftNode, raft_status
from .reconfig import Reconfig

STARTUP_TIMEOUT_S = 60.0


def _wait_for(receiver: Receiver, kind: type, deadline: float,
              other: Callable[[object], None] = lambda v: None) -> object:
    """The first `kind` on `receiver`; what comes before it goes to `other`."""
    poller = zmq.Poller()
    poller.register(receiver.socket, zmq.POLLIN)
    while time.monotonic() < deadline:
        if poller.poll(100):
            for value in receiver.drain(1):
                if isinstance(value, kind):
                    return value
                other(value)
    raise TimeoutError(f"no {kind.__name__} on {receiver.pipe} within {STARTUP_TIMEOUT_S:.0f} s")


def build_node(cfg, recovered: Recovered, applied_index: int,
               ident: identity.Identity | None = None) -> RaftNode:
    ident = ident or identity.of(cfg)
    self_id = ident.member_id
    storage = MemoryStorage()
    snapshot_index = 0
    if recovered.snapshot is not None:
        storage.apply_snapshot(recovered.snapshot)
        snapshot_index = recovered.snapshot.metadata.index
        if applied_index < snapshot_index:
            # Entries up to the snapshot are gone from the log: the store must already hold
            # them (apply installs a received store at start), or this member cannot go on.
            raise RuntimeError(
                f"the store is at applied index {applied_index}, behind the raft snapshot at "
                f"{snapshot_index}, and no received store covers the gap")
    storage.append(recovered.entries)
    hs = recovered.hard_state
    fresh = hs == EMPTY_HARD_STATE and not recovered.entries and recovered.snapshot is None
    if applied_index > hs.commit:
        # apply runs beside wal, so LMDB may have applied an entry whose commit index never
        # reached the WAL's hard state before a crash. It was committed, hence durable here.
        hs = HardState(hs.term, hs.vote, min(applied_index, storage.last_index()))
    storage.set_hard_state(hs)
    config = Config(
        id=self_id, rand=random.Random(os.urandom(16)),
        election_ticks=max(2, cfg.election_timeout // cfg.heartbeat_interval),
        heartbeat_ticks=1, applied=snapshot_index,
        max_size_per_msg_bytes=cfg.raft_max_size_per_msg_bytes,
        max_inflight_msgs=cfg.raft_max_inflight_msgs,
        pre_vote=cfg.raft_pre_vote, check_quorum=cfg.raft_check_quorum)
    rawnode = RawNode(config, storage)
    if fresh and cfg.initial_cluster_state == "new":
        # A member joining a running cluster (`existing`) starts empty and learns everything,
        # its own membership included, from the leader.
        rawnode.bootstrap([ConfChange(ConfChangeType.ADD_NODE, m.id, encode(m))
                           for m in ident.members])
    return RaftNode(rawnode, storage)


def main(ctx: StageContext) -> None:
    cfg = ctx.config
    z, d = ctx.zmq, cfg.data_dir
    propc = Receiver(z, d, "propc")
    recvc = Receiver(z, d, "recvc")
    respc = Receiver(z, d, "respc")
    appliedc = Receiver(z, d, "appliedc")
    appendc = Sender(z, d, "appendc")
    applyc = Sender(z, d, "applyc")
    sendc = Sender(z, d, "sendc")
    readc = Sender(z, d, "readc")

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    lessor = Lessor(revoke_rate_per_s=cfg.lease_revoke_rate,
                    checkpoint_interval_s=cfg.lease_checkpoint_interval_ms / 1000.0)
    ident = identity.of(cfg)
    reconfig = Reconfig(ident.member_id, strict=cfg.strict_reconfig_check,
                        max_learners=cfg.max_learners,
                        health_interval_s=cfg.peer_health_interval_ms / 1000.0)

    def before_applied(v) -> None:
        if isinstance(v, LeaseChanges):
            lessor.apply_changes(v, time.monotonic())
        elif isinstance(v, Membership):
            reconfig.on_membership(v)
            sendc.send(v)

    recovered = _wait_for(respc, Recovered, deadline)
    applied = _wait_for(appliedc, Applied, deadline, other=before_applied)
    node = build_node(cfg, recovered, applied.index, ident)
    leases = LeaseRouter(node, lessor, sendc, readc, propose=lambda data: _propose(node, data))
    members = MemberRouter(node, reconfig, sendc, readc)
    ctx.log.info("raft member %x starting at term %d, commit %d, applied %d",
                 node.node_id, node.rawnode.raft.term, node.rawnode.raft.log.committed,
                 applied.index)
    max_batch = cfg.raft_max_batch_entries
    appends = AppendQueue(appendc.send, cfg.raft_max_inflight_appends)

    def on_propc() -> None:
        items = propc.drain(max_batch)
        proposals = [x for x in items if isinstance(x, Proposal)]
        node.propose(proposals)
        node.read_index([x for x in items if isinstance(x, ReadIndexRequest)])
        for x in items:
            if isinstance(x, LeaseAsk):
                leases.ask(x, time.monotonic())
            elif isinstance(x, MemberChangeAsk):
                members.ask(x, time.monotonic())
            elif isinstance(x, TransferLeadership):
                readc.send(TransferLeadershipStarted(x.ctx, _transfer(node, x.target)),
                           topic=worker_topic(x.worker))
            elif isinstance(x, Defragment):
                applyc.send(x)  # member-local: apply does it, raft only passes it on

    def on_recvc() -> None:
        for item in recvc.drain(on_garbage=on_peer_garbage):
            if isinstance(item, PeerMessages):
                node.step(list(item.messages))
            elif isinstance(item, PeerUnreachable):
                node.rawnode.report_unreachable(item.node_id)
            elif isinstance(item, SnapshotStatus):
                node.rawnode.report_snapshot(item.node_id, item.failed)
            elif isinstance(item, LeaseAsk):
                leases.ask(item, time.monotonic(), forwarded=True)
            elif isinstance(item, LeaseAnswer):
                leases.answer(item)
            elif isinstance(item, MemberChangeAsk):
                members.ask(item, time.monotonic(), forwarded=True)
            elif isinstance(item, MemberChangeRefused):
                members.refused(item)
            elif isinstance(item, PeerActivity):
                reconfig.on_activity(item, time.monotonic())

    garbage_log = Throttled(ctx.log)

    def on_peer_garbage(e: Exception) -> None:
        # transport passes peers' frames on undecoded: a bad one is dropped here, like a
        # message lost on the network, instead of stopping the member.
        garbage_log.warning("dropped an undecodable frame from a peer: %s", e)

    def on_respc() -> None:
        for item in respc.drain():
            if isinstance(item, AppendDone):
                failpoint.hit("raft.after_save")
                node.append_done(item.seq)
                appends.done(item.seq)

    def on_appliedc() -> None:
        last = None
        for item in appliedc.drain():
            if isinstance(item, Applied):
                last = item
            else:
                before_applied(item)
        if last is not None:
            node.applied_to(min(last.index, node.rawnode.raft.log.committed))
            leases.on_applied(time.monotonic())
            members.on_applied(time.monotonic())
            snap = node.maybe_snapshot(cfg.snapshot_count, cfg.snapshot_catch_up_entries)
            if snap is not None:
                appends.push(SaveSnapshot(snap))

    def flush() -> None:
        leases.follow_leadership(time.monotonic(), cfg.election_timeout / 1000.0)
        out = node.flush()
        if out.appends:
            failpoint.hit("raft.before_save")
        for req in out.appends:
            appends.push(req)
        appends.flush()
        if out.peer_messages:
            if failpoint.any_armed():
                failpoint.hit("raft.before_leader_send"
                              if node.rawnode.raft.state == StateType.LEADER
                              else "raft.before_follower_send")
            sendc.send(Many.of(PeerFrame.per_peer(out.peer_messages)))
        for batch in out.applies:
            if isinstance(batch, ApplyBatch) and _apply_conf_changes(node, batch.entries):
                removal["at"] = removal["at"] or time.monotonic()
                ctx.log.warning("the member has been permanently removed from the cluster")
            applyc.send(batch)
        for worker, result in out.read_results:
            readc.send(result, topic=worker_topic(worker))
        for worker, failure in out.failures:
            readc.send(failure, topic=worker_topic(worker))
        if out.status is not None:
            readc.send(out.status, topic=BROADCAST_TOPIC)

    loop = Loop()
    stopping = {"deadline": 0.0}
    removal = {"at": 0.0, "reported": False}
    # etcd gives a removed member a moment (1 s) before it stops: a leader hands its
    # leadership over first, and the answer to the removal can leave.
    removal_grace_s = min(1.0, cfg.election_timeout / 1000.0)

    def check_removed() -> None:
        waited = time.monotonic() - removal["at"]
        if (removal["at"] and not removal["reported"] and waited >= removal_grace_s
                and (node.rawnode.raft.lead != node.node_id
                     or waited >= removal_grace_s + cfg.election_timeout / 1000.0)):
            removal["reported"] = True
            ctx.report(MemberRemoved("raft"))

    def on_stop_signal(*_) -> None:
        # Graceful stop: a leader first hands leadership to the most caught-up voter (etcd
        # does the same), so the cluster does not wait out an election timeout.
        if stopping["deadline"] or node.rawnode.transfer_leadership_on_stop() == 0:
            loop.stop()
            return
        stopping["deadline"] = time.monotonic() + cfg.election_timeout / 1000.0
        ctx.log.info("transferring leadership before stopping")

    def check_stop() -> None:
        if stopping["deadline"] and (node.rawnode.raft.lead != node.node_id
                                     or time.monotonic() > stopping["deadline"]):
            loop.stop()

    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    loop.after_turn(check_stop)
    loop.every(cfg.heartbeat_interval / 1000.0, check_removed)
    loop.on_readable(propc.socket, on_propc)
    loop.on_readable(recvc.socket, on_recvc)
    loop.on_readable(respc.socket, on_respc)
    loop.on_readable(appliedc.socket, on_appliedc)
    loop.every(cfg.heartbeat_interval / 1000.0, node.tick)
    loop.every(cfg.heartbeat_interval / 1000.0, lambda: leases.expire(time.monotonic()))
    loop.after_turn(flush)
    # Republish the status now and then: an api worker that (re)subscribes late still learns
    # the term and leader for its headers.
    loop.every(1.0, lambda: readc.send(_status(node), topic=BROADCAST_TOPIC))
    if node.rawnode.raft.tracker.voters == {node.node_id}:
        # A single voter need not wait out an election timeout to lead (etcd fast-forwards
        # its ticks for the same reason).
        node.rawnode.campaign()
    flush()
    ctx.ready()
    loop.run()


def _propose(node: RaftNode, data: bytes) -> bool:
    try:
        node.rawnode.propose_batch([data])
    except ProposalDropped:
        return False  # a transfer in progress, say: the lessor proposes it again later
    return True


def _transfer(node: RaftNode, target: int) -> str:
    """Start a MoveLeader; "" on success, else etcd's error message."""
    r = node.rawnode.raft
    if r.lead != node.node_id:
        return ErrNotLeader.message
    if target not in r.tracker.voters:
        return ErrBadLeaderTransferee.message
    if target != node.node_id:
        node.rawnode.transfer_leader(target)
    return ""


def _status(node: RaftNode) -> RaftStatus:
    return raft_status(node.rawnode.raft)


def _apply_conf_changes(node: RaftNode, entries) -> bool:
    """Apply the conf changes among `entries` to the core; whether one removed this member."""
    removed = False
    for e in entries:
        if e.type == EntryType.CONF_CHANGE:
            cc = ConfChange.decode(e.data)
            node.rawnode.apply_conf_change(cc)
            removed |= cc.type == ConfChangeType.REMOVE_NODE and cc.node_id == node.node_id
    return removed


__all__ = ["main", "build_node"]
