"""The apply stage's loop: committed entries into the MVCC store, results out.

Theory of operation: at start, open the store and tell raft how far it got (Applied). Each turn,
drain every ApplyBatch queued on applyc and apply all their entries in ONE LMDB transaction
whose applied index is the last entry's (DESIGN.md 1, 4). Entries at or below the stored applied
index are skipped (raft replays from its last snapshot after a restart). Each client's result
goes to its api worker before the transaction commits, once the answered counter covers it
(answered.py: the commit's fdatasync is off the answer path, and readers wait for the commit);
a run that changed the member table or auth is answered after the commit instead. Then the
new applied index goes to every worker and to raft.

Entry kinds: an empty normal entry (a new leader's) changes nothing; a normal entry is an
encoded InternalRequest whose op is executed; a conf-change entry updates the member table
from the member in its context (and answers the client that asked for it, on its member).
Raft hears of the member table at start and after every batch that changed it (Membership,
before that batch's Applied).

Must never: publish a result the answered counter does not cover, or one of a batch whose
execution failed (a failed commit stops the stage, and the WAL, where every answered entry
is committed, replays the batch at restart); apply an entry twice; let a bad entry stop the
member: an etcd error becomes that request's result.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

from petcd.common import codec, failpoint
from petcd.common.auth import (
    AUTH_CHANGES, AuthApplied, AuthAuthenticate, AuthResult,
)
from petcd.common.cluster import (
    AlarmAction, AlarmMember, AlarmRequest, AlarmResponse, AlarmType, DefragmentResponse,
)
from petcd.common.errors import Code, ErrAuthFailed, ErrAuthNotEnabled, EtcdError
from petcd.common.layout import db_dir, snapshot_db_path, snapshot_dbs
from petcd.common.kv import (
    CompactionRequest, DeleteRangeRequest, PutRequest, ResponseHeader, TxnRequest,
)
from petcd.common.lease import (
    LeaseChanges, LeaseCheckpointRequest, LeaseGrantRequest, LeaseGrantResponse,
    LeaseRevokeRequest, LeaseRevokeResponse,
)
from petcd.common.pipeline import (
    Applied, ApplyBatch, ApplyResult, ApplySnapshot, Defragment, InternalRequest, MemberInfo,
    Many, PublishAttributes, StoreMoved,
)
from petcd.common.membership import MemberChangeContext, MemberChangeKind, Membership
from petcd.common.types import ConfChange, ConfChangeType, EntryType
from petcd.ipc.channel import Receiver, Sender
from petcd.ipc.loop import Loop
from petcd.ipc.pipes import BROADCAST_TOPIC, run_dir, worker_topic
from petcd.ipc.stage import StageContext
from petcd.common import identity
from . import auth_store, defrag, lease_store
from .answered import AnsweredIndex
from .mvcc import Batch, MvccStore

WORKER_SHIFT = 48


def worker_of(request_id: int) -> int:
    return request_id >> WORKER_SHIFT


class Applier:
    """The pure part: entries in, (results, applied index) out; no sockets."""

    def __init__(self, store: MvccStore, member_id: int = 0) -> None:
        self.store = store
        self.member_id = member_id
        self.applied_index = store.applied_index()
        # Results of physical compactions, answered once the compaction is done on disk.
        self.held: list[tuple[int, ApplyResult]] = []
        # What the lessor in raft must hear after this batch: (id, ttl, remaining), ids.
        self.lease_granted: list[tuple[int, int, int]] = []
        self.lease_revoked: list[int] = []
        # Whether a batch changed the member table since raft last heard of it.
        self.members_changed = False
        # What the api workers must hear of auth after this batch (None: nothing changed).
        self.auth_applied: dict | None = None
        self.perm_cache = auth_store.PermCache()

    def take_lease_changes(self) -> LeaseChanges | None:
        if not self.lease_granted and not self.lease_revoked:
            return None
        changes = LeaseChanges(tuple(self.lease_granted), tuple(self.lease_revoked))
        self.lease_granted, self.lease_revoked = [], []
        return changes

    def all_leases(self) -> LeaseChanges:
        """Every lease, for the lessor at start and after a snapshot install."""
        self.lease_granted, self.lease_revoked = [], []
        return LeaseChanges(tuple(self.store.lease_rows()), (), reset=True)

    def take_membership(self, force: bool = False) -> Membership | None:
        """The member table for raft (and transport) if it changed, or if `force`."""
        if not (force or self.members_changed):
            return None
        self.members_changed = False
        members, removed = self.store.membership()
        return Membership(tuple(sorted(members, key=lambda m: m.id)), tuple(sorted(removed)))

    def take_auth_applied(self, force: bool = False) -> AuthApplied | None:
        """The auth news of the batches since the last call (every token dies if `force`:
        the store was replaced)."""
        news, self.auth_applied = self.auth_applied, None
        if news is None and not force:
            return None
        news = news or {"assigned": [], "invalidated": [], "reset": False}
        with self.store.view() as v:
            db = v.dbs.auth
            return AuthApplied(auth_store.enabled(v.tx, db), auth_store.revision(v.tx, db),
                               tuple(news["assigned"]), tuple(news["invalidated"]),
                               news["reset"] or force)

    def _auth_news(self) -> dict:
        if self.auth_applied is None:
            self.auth_applied = {"assigned": [], "invalidated": [], "reset": False}
        return self.auth_applied

    def release_held(self) -> list[ApplyResult]:
        done = self.store.finished_compact_revision()
        ready = [r for rev, r in self.held if rev <= done]
        self.held = [(rev, r) for rev, r in self.held if rev > done]
        return ready

    def apply(self, batches: list[ApplyBatch],
              answer: Callable[[int, list[ApplyResult]], None] | None = None
              ) -> list[ApplyResult]:
        """Apply the entries not applied yet; the results to send after the commit.

        answer(index, results): called before the commit with the results of a run that
        changes neither the member table nor auth, to send them then (answered.py: the
        commit's fdatasync leaves the answer path); those are not returned. A run that does
        change them is answered after the commit, since what raft and the workers learn of
        it (Membership, AuthApplied) is read from the committed store and must reach them
        before the answers."""
        entries = [e for b in batches for e in b.entries if e.index > self.applied_index]
        if not entries:
            return []
        results: list[ApplyResult] = []
        with self.store.batch(entries[-1].index, batches[-1].term) as b:
            for e in entries:
                if e.type == EntryType.CONF_CHANGE:
                    result = self._conf_change(b, e.data)
                    if result is not None:
                        results.append(result)
                elif e.data:
                    result, physical_rev, mine = self._execute(b, e.data, e.index)
                    if not mine:
                        continue  # another member's client: that member answers it
                    if physical_rev:
                        self.held.append((physical_rev, result))
                    else:
                        results.append(result)
            if (answer is not None and results and not self.members_changed
                    and self.auth_applied is None):
                answer(entries[-1].index, results)
                results = []
        failpoint.hit("apply.after_commit")
        self.applied_index = entries[-1].index
        return results

    def _check(self, b: Batch, req: InternalRequest) -> None:
        """etcd's authApplierV3: the permission checks of a client's request, against the auth
        store as this entry finds it."""
        op, txn, db = req.op, b.tx, b.dbs.auth
        if isinstance(op, (PutRequest, DeleteRangeRequest, TxnRequest)):
            auth_store.check(txn, db, req.user, req.auth_revision, op,
                             lambda lease: lease_store.keys(txn, b.dbs, lease), self.perm_cache)
        elif isinstance(op, LeaseRevokeRequest):
            auth_store.check_lease_revoke(txn, db, req.user, req.auth_revision,
                                          lease_store.keys(txn, b.dbs, op.id))
        elif isinstance(op, AUTH_CHANGES) and not isinstance(op, AuthAuthenticate):
            auth_store.admin_check(txn, db, req.user)
        elif isinstance(op, CompactionRequest) or (
                isinstance(op, AlarmRequest) and op.action != AlarmAction.GET):
            # Root only (etcd 3.4 lets any user compact history away or disarm an alarm:
            # docs/compatibility.md).
            auth_store.admin_check(txn, db, req.user)

    def _auth(self, b: Batch, op: object, index: int) -> AuthResult:
        txn, db = b.tx, b.dbs.auth
        if isinstance(op, AuthAuthenticate):
            # The api checked the password; the user may be gone since (etcd's Authenticate).
            if not auth_store.enabled(txn, db):
                raise EtcdError(ErrAuthNotEnabled.code, ErrAuthNotEnabled.message)
            user = auth_store.get_user(txn, db, op.name)
            if user is None or user.no_password:
                raise EtcdError(ErrAuthFailed.code, ErrAuthFailed.message)
            if not op.token_prefix:
                return AuthResult()  # a JWT, which the api makes
            token = f"{op.token_prefix}.{index}"
            self._auth_news()["assigned"].append((token, op.name))
            return AuthResult(token)
        changed = auth_store.change(txn, db, op)
        news = self._auth_news()
        news["invalidated"].extend(changed.invalidated)
        news["reset"] = news["reset"] or changed.reset
        return AuthResult()

    def _execute(self, b: Batch, data: bytes, index: int = 0) -> tuple[ApplyResult, int, bool]:
        """The request's result, the revision to wait for if it is a physical compaction, and
        whether this member's client is waiting for it."""
        try:
            req = codec.decode(data)
        except codec.CodecError:
            return ApplyResult(0, None, 13, "etcdserver: bad entry"), 0, False
        if not isinstance(req, InternalRequest):
            return ApplyResult(0, None, 13, "etcdserver: bad entry"), 0, False
        mine = req.origin == self.member_id
        op = req.op
        try:
            if req.user is not None:
                self._check(b, req)
            if isinstance(op, PutRequest):
                resp = b.put(op)
            elif isinstance(op, DeleteRangeRequest):
                resp = b.delete_range(op)
            elif isinstance(op, TxnRequest):
                resp = b.txn(op)
            elif isinstance(op, CompactionRequest):
                resp = b.compact(op)
            elif isinstance(op, AlarmRequest):
                resp = self._alarm(b, op)
            elif isinstance(op, PublishAttributes):
                resp = self._publish(b, op)
            elif isinstance(op, LeaseGrantRequest):
                b.lease_grant(op.id, op.ttl)
                self.lease_granted.append((op.id, op.ttl, 0))
                resp = LeaseGrantResponse(ResponseHeader(revision=b.rev), op.id, op.ttl)
            elif isinstance(op, LeaseRevokeRequest):
                rev = b.lease_revoke(op.id)
                self.lease_revoked.append(op.id)
                resp = LeaseRevokeResponse(ResponseHeader(revision=rev))
            elif isinstance(op, AUTH_CHANGES):
                resp = self._auth(b, op, index)
            elif isinstance(op, LeaseCheckpointRequest):
                for lease_id, remaining in op.checkpoints:
                    row = b.lease_checkpoint(lease_id, remaining)
                    if row is not None:
                        self.lease_granted.append((lease_id, row[0], remaining))
                resp = AlarmResponse()  # no client waits for it
            else:
                return (ApplyResult(req.id, None, 12, f"unknown request {type(op).__name__}"),
                        0, mine)
        except EtcdError as e:
            return ApplyResult(req.id, None, int(e.code), e.message), 0, mine
        physical = op.revision if isinstance(op, CompactionRequest) and op.physical else 0
        return ApplyResult(req.id, resp), physical, mine

    def _alarm(self, b: Batch, req: AlarmRequest) -> AlarmResponse:
        if req.action == AlarmAction.ACTIVATE and req.alarm != AlarmType.NONE:
            b.alarm_activate(req.member_id, req.alarm)
            return AlarmResponse(alarms=(AlarmMember(req.member_id, req.alarm),))
        if req.action == AlarmAction.DEACTIVATE:
            changed = b.alarm_deactivate(req.member_id, req.alarm)
            return AlarmResponse(
                alarms=(AlarmMember(req.member_id, req.alarm),) if changed else ())
        return AlarmResponse()

    def _publish(self, b: Batch, req: PublishAttributes) -> AlarmResponse:
        member = b.member_get(req.member_id)
        if member is not None:  # a removed member's late announcement changes nothing
            b.member_put(MemberInfo(member.id, req.name, member.peer_urls, req.client_urls,
                                    member.is_learner))
        return AlarmResponse()  # headerless, like etcd's internal requests

    def _conf_change(self, b: Batch, data: bytes) -> ApplyResult | None:
        """Record a membership change; the result for the client that asked, if it asked
        this member. The leader checked the change before proposing it (see
        common/membership.py), so it applies as it is."""
        cc = ConfChange.decode(data)
        ctx = codec.decode(cc.context) if cc.context else None
        self.members_changed = True
        if isinstance(ctx, MemberInfo):  # a new cluster's initial members (bootstrap)
            b.member_put(dataclasses.replace(
                ctx, is_learner=cc.type == ConfChangeType.ADD_LEARNER_NODE))
            return None
        if cc.type == ConfChangeType.REMOVE_NODE:
            b.member_remove(cc.node_id)
        if not isinstance(ctx, MemberChangeContext):
            return None
        old = b.member_get(cc.node_id)
        if ctx.kind == MemberChangeKind.ADD:
            b.member_put(ctx.member)
        elif ctx.kind == MemberChangeKind.PROMOTE and old is not None:
            b.member_put(dataclasses.replace(old, is_learner=False))
        elif ctx.kind == MemberChangeKind.UPDATE and old is not None:
            b.member_put(dataclasses.replace(old, peer_urls=ctx.member.peer_urls))
        if ctx.origin != self.member_id:
            return None
        return ApplyResult(ctx.request_id, None)  # the api reads the table it answers with


def install_received_snapshot(ctx: StageContext, store: MvccStore, data_dir: str,
                              index: int) -> None:
    """Install the newest received store newer than ours (at least `index`, when raft asks
    for one), then delete the files that are no longer needed.

    The file is deleted only after the install committed, so a crash in between installs it
    again on restart. Raising stops the member: going on would apply entries to the wrong
    state."""
    found = snapshot_dbs(data_dir)
    newest = found[-1] if found else None
    if index and store.applied_index() < index and (newest is None or newest[0] < index):
        raise RuntimeError(f"raft installed the snapshot at index {index}, but its store "
                           f"({snapshot_db_path(data_dir, index)}) is missing")
    if newest is not None and newest[0] > store.applied_index():
        failpoint.hit("snapshot.before_apply")
        applied = store.restore_from(newest[1])
        failpoint.hit("snapshot.after_apply")
        ctx.log.info("installed the store received with snapshot %d (applied index %d, "
                     "revision %d)", newest[0], applied, store.current_revision())
    for i, path in found:
        if i <= store.applied_index():
            os.unlink(path)


def main(ctx: StageContext) -> None:
    cfg = ctx.config
    defrag.adopt(cfg.data_dir)
    store = MvccStore.open(db_dir(cfg.data_dir), cfg.lmdb_map_size_bytes,
                           quota_backend_bytes=cfg.quota_bytes)
    me = identity.of(cfg)
    # A store received from the leader whose install a crash interrupted: raft's log starts
    # after its snapshot, so it must be installed before anything else (etcd does the same).
    install_received_snapshot(ctx, store, cfg.data_dir, 0)
    applier = Applier(store, me.member_id)
    applyc = Receiver(ctx.zmq, cfg.data_dir, "applyc")
    appliedc = Sender(ctx.zmq, cfg.data_dir, "appliedc")
    resultc = Sender(ctx.zmq, cfg.data_dir, "resultc")
    answered = AnsweredIndex.create(run_dir(cfg.data_dir), applier.applied_index)
    appliedc.send(applier.all_leases())
    appliedc.send(applier.take_membership(force=True))
    appliedc.send(Applied(applier.applied_index, store.current_revision()))
    max_batch = cfg.apply_max_batch_entries

    def on_applyc() -> None:
        items = applyc.drain(max_batch)
        # Runs of entries between snapshot installs, in order.
        run: list[ApplyBatch] = []
        for item in items:
            if isinstance(item, ApplySnapshot):
                if run:
                    apply_run(run)
                    run = []
                if defrag_state["copy"] is not None:  # a copy of a store about to be replaced
                    loop.forget(defrag_state["copy"].done_socket)
                    defrag_state["copy"].discard()
                    defrag_state["copy"] = None
                    defrag_answered(RuntimeError("defragmentation interrupted by the install "
                                                 "of a snapshot from the leader"))
                install_received_snapshot(ctx, store, cfg.data_dir, item.index)
                applier.applied_index = store.applied_index()
                appliedc.send(applier.all_leases())
                appliedc.send(applier.take_membership(force=True))
                resultc.send(applier.take_auth_applied(force=True), topic=BROADCAST_TOPIC)
                applied = Applied(item.index, store.current_revision())
                appliedc.send(applied)
                resultc.send(applied, topic=BROADCAST_TOPIC)
            elif isinstance(item, ApplyBatch):
                run.append(item)
            elif isinstance(item, Defragment):
                if run:
                    apply_run(run)
                    run = []
                defragment(item)
        if run:
            apply_run(run)

    # Defragmentation (defrag.py): a copy made on a thread while batches go on; the requests
    # waiting for it, as (worker, request id).
    defrag_state: dict = {"copy": None, "waiting": [], "started": 0.0}

    def defragment(item: Defragment) -> None:
        defrag_state["waiting"].append((item.worker, item.request_id))
        if defrag_state["copy"] is not None:
            return  # one copy at a time: this request is answered when it is done
        defrag_state["started"] = time.monotonic()
        try:
            copy = defrag.BackgroundCopy(store, cfg.data_dir, ctx.zmq)
        except Exception as e:
            return defrag_answered(error=e)
        defrag_state["copy"] = copy
        loop.on_readable(copy.done_socket, finish_defragment)

    def finish_defragment() -> None:
        copy = defrag_state["copy"]
        loop.forget(copy.done_socket)
        defrag_state["copy"] = None
        size_before = store.size_bytes()
        try:
            generation = copy.finish(
                lambda new_store, batches: Applier(new_store, me.member_id).apply(batches))
        except Exception as e:  # the store is still the old one: the requests fail alone
            return defrag_answered(error=e)
        # Before any later Applied: workers reopen before reading what comes next.
        resultc.send(StoreMoved(generation), topic=BROADCAST_TOPIC)
        defrag_answered()
        ctx.log.info("defragmented the store in %.3f s (%d batches replayed): %d to %d bytes "
                     "(generation %d)", time.monotonic() - defrag_state["started"],
                     len(copy.batches), size_before, store.size_bytes(), generation)
        compact_a_little()  # the steps held back during the copy

    def defrag_answered(error: Exception | None = None) -> None:
        if error is not None:
            ctx.log.warning("defragmentation failed: %s", error)
        waiting, defrag_state["waiting"] = defrag_state["waiting"], []
        for worker, request_id in waiting:
            result = (ApplyResult(request_id, DefragmentResponse()) if error is None else
                      ApplyResult(request_id, None, int(Code.UNKNOWN), str(error)))
            resultc.send(result, topic=worker_topic(worker))

    def send_results(results: list[ApplyResult]) -> None:
        by_worker: dict[int, list] = {}
        for r in results:
            by_worker.setdefault(worker_of(r.request_id), []).append(r)
        for worker, rs in by_worker.items():  # one frame per worker per batch
            resultc.send(Many.of(rs), topic=worker_topic(worker))

    def answer_before_commit(index: int, results: list[ApplyResult]) -> None:
        # The counter first, then the results (answered.py): a read that follows one of
        # these answers waits until the commit has made it visible.
        answered.publish(index)
        send_results(results)

    def apply_run(batches: list[ApplyBatch]) -> None:
        results = applier.apply(batches, answer_before_commit)
        if defrag_state["copy"] is not None:
            defrag_state["copy"].record(batches)
        # Report what raft handed us, not more: raft replays conf changes from the entries it
        # hands out, so it must not skip past ones we have not been given yet.
        last = max((b.entries[-1].index for b in batches if b.entries), default=0)
        changes = applier.take_lease_changes()
        if changes is not None:
            appliedc.send(changes)
        membership = applier.take_membership()
        if membership is not None:
            appliedc.send(membership)
        applied = Applied(last or applier.applied_index, store.current_revision())
        appliedc.send(applied)
        auth = applier.take_auth_applied()
        if auth is not None:  # before the Applied that covers it (and the tokens' answers)
            resultc.send(auth, topic=BROADCAST_TOPIC)
        # The visible index reaches the workers after the commit. Results answered after it
        # (a run that changed members or auth) follow it on the same PUB socket; those sent
        # before the commit are covered by the answered counter, which every read and a
        # lease ask of the workers consult (answered.py).
        resultc.send(applied, topic=BROADCAST_TOPIC)
        send_results(results)
        compact_a_little()

    def compact_a_little() -> None:
        # Physical compaction runs in short steps between batches, so it never stalls apply.
        # Not while a defragmenting copy is made: a step is not an entry the copy could replay.
        if store.compaction_pending and defrag_state["copy"] is None:
            store.compact_step()
        for r in applier.release_held():
            resultc.send(r, topic=worker_topic(worker_of(r.request_id)))

    loop = Loop()
    loop.stop_on_signals()
    loop.on_readable(applyc.socket, on_applyc)
    # Each wakeup of a stage costs real CPU (poll, ZeroMQ's I/O thread), so the compaction
    # timer is slow; steps also run right after every applied batch.
    loop.every(0.1, compact_a_little)
    # Reader slots of dead processes (an api or transport killed mid-read) pin old pages.
    loop.every(30.0, store.reader_check)
    ctx.ready()
    try:
        loop.run()
    finally:
        store.close()
