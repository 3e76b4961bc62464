"""The MVCC store: etcd's revision model on LMDB, one writer (apply) and many readers (api).

Theory of operation. ``MvccStore`` is the apply process's handle. Committed raft entries are
applied in batches::

    with store.batch(applied_index, applied_term) as b:
        resp = b.put(req)            # or delete_range / txn / compact / lease_* / alarm_*
    publish(b.events)                # only after the with-block has committed

A batch is ONE LMDB write transaction, and the batch's applied index is written in that same
transaction, so after a crash LMDB holds exactly the entries up to its applied index and replay
starts right after it. An exception leaving the with-block aborts the transaction: nothing of
the batch is applied and the index does not move. A request that fails with an EtcdError
(ErrLeaseNotFound, ErrCompacted, ...) leaves no trace either: every check runs before the first
write of that request, so the batch carries on with the next entry. Any *other* exception
(lmdb.MapFullError, a bug) may leave a request half-written: never catch it inside the
with-block; let it abort the whole batch.

Revisions (reference/etcd-api.md 2): a fresh store is at revision 1. Each mutating request
bumps the main revision by exactly 1 -- a put always, a delete only if it deleted something, a
txn only if it changed something, a lease revoke only if it deleted keys -- and the changes of
one request take sub-revisions 0, 1, 2... A put sets mod_revision, bumps version, keeps
create_revision; a delete writes a tombstone, which ends the key's generation (a re-put starts
at version 1 with a new create_revision). Compaction, lease grants and alarms do not bump.

Watch hook: every change appends an ``Event`` to ``batch.events`` (PUT: the new kv and prev_kv;
DELETE: kv = {key, mod_revision}, prev_kv = the kv deleted), in revision order. The apply loop
publishes them once the batch has committed; watchers behind the stream catch up with
``events()`` from LMDB. Responses carry header.revision only; the caller fills cluster_id,
member_id and raft_term.

Reads (``range``, ``get``, ``hash_kv``, ``events``...) come from reader.ReadApi, shared with
``MvccReader``, which opens the same environment read-only in other processes (api workers).

Must never: write outside a batch or a compaction step; let a failed request write anything;
publish events of a batch that did not commit.
"""
from __future__ import annotations

import itertools

import lmdb

from petcd.common import failpoint, hoptrace
from petcd.common.errors import (
    ErrEmptyKey, ErrKeyNotFound, ErrLeaseExist, ErrLeaseNotFound, ErrNoSpace,
)
from petcd.common.kv import (
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventType, KeyValue, PutRequest, PutResponse, ResponseHeader, TxnRequest, TxnResponse,
)
from petcd.stages.apply import alarm_store, compaction, lease_store, members_store, schema
from petcd.stages.apply import txn as txn_mod
from petcd.stages.apply.alarm_store import AlarmType
from petcd.stages.apply.quota import Quota, txn_cost
from petcd.stages.apply.read import ReadView, fresh
from petcd.stages.apply.reader import ReadApi
from petcd.stages.apply.long_keys import stored
from petcd.stages.apply.schema import (
    PUT_SUFFIX, REV, TOMBSTONE_SUFFIX, Dbs, encode_change, encode_latest, encode_tombstone,
    meta_get, meta_put,
)

_PUT = EventType.PUT
_DELETE = EventType.DELETE
_rev_pack = REV.pack


def _copy_table(src_txn, src_db, dst_txn, dst_db, dupsort: bool) -> None:
    """Every row of src_db into the empty dst_db, in key order."""
    with src_txn.cursor(db=src_db) as cur:
        # MDB_APPEND refuses a key equal to the last one, so not for dupsort.
        return dst_txn.cursor(db=dst_db).putmulti(cur.iternext(), dupdata=dupsort,
                                                  append=not dupsort)


def _open_writer(path: str, *, map_size_bytes: int, max_readers: int, sync: bool,
                 metasync: bool) -> tuple[lmdb.Environment, Dbs]:
    env = schema.open_env(path, map_size_bytes, readonly=False, max_readers=max_readers,
                          sync=sync, metasync=metasync)
    try:
        env.reader_check()   # drop reader slots of dead processes
        dbs = schema.open_dbs(env, create=True)
        with env.begin(write=True) as txn:
            schema.init_or_check(txn, dbs)
    except BaseException:
        env.close()
        raise
    return env, dbs


class MvccStore(ReadApi):
    """The writer: owns the environment, applies batches and compaction steps."""

    def __init__(self, env: lmdb.Environment, dbs: Dbs, quota: Quota,
                 compaction_batch_limit: int):
        self._env = env
        self._dbs = dbs
        self._quota = quota
        self.compaction_batch_limit = compaction_batch_limit
        self._open_batch: Batch | None = None
        self._load_cached()

    def _load_cached(self) -> None:
        dbs = self._dbs
        with self._env.begin() as txn:
            self._rev, self._compact_rev = schema.read_revisions(txn, dbs)
            self._finished_compact_rev = meta_get(txn, dbs, schema.M_FINISHED_COMPACT)
            self._applied_index = meta_get(txn, dbs, schema.M_APPLIED_INDEX)
            self._nospace = alarm_store.any_active(txn, dbs, AlarmType.NOSPACE)

    @classmethod
    def open(cls, path: str, map_size_bytes: int = schema.DEFAULT_MAP_SIZE_BYTES, *,
             quota_backend_bytes: int = 0, max_readers: int = schema.DEFAULT_MAX_READERS,
             sync: bool = True, metasync: bool = False,
             compaction_batch_limit: int = compaction.DEFAULT_BATCH_LIMIT) -> MvccStore:
        """Open or create the store at ``path`` (a directory).

        ``map_size_bytes`` is LMDB's address-space ceiling; keep it well above the quota so
        MDB_MAP_FULL can never abort a batch before the NOSPACE alarm does its job. ``sync`` /
        ``metasync`` are LMDB's: the default fsyncs data on every batch commit and the meta page
        lazily (a power loss may undo the last batch, never corrupt; the WAL replays it).
        """
        open_args = dict(map_size_bytes=map_size_bytes, max_readers=max_readers, sync=sync,
                         metasync=metasync)
        env, dbs = _open_writer(path, **open_args)
        store = cls(env, dbs, Quota(quota_backend_bytes), compaction_batch_limit)
        store._open_args = open_args
        store._quota_backend_bytes = quota_backend_bytes
        return store

    def close(self) -> None:
        self._env.close()

    def copy_txn(self):
        """A read transaction to copy the store from (copy_rows), begun now: the copy is the
        store as of this point, whatever the writer does afterwards."""
        if self._open_batch is not None:
            raise RuntimeError("copy inside an open batch")
        return self._env.begin()

    def copy_rows(self, txn, path: str, chunk_rows: int = 2048) -> None:
        """Copy what `txn` sees, compacted (free pages left out), into a new environment in
        the directory `path` (stages/apply/defrag.py). May run on another thread than the
        writer's (LMDB readers do not block it); rows go in chunks, so that the thread lets
        the writer's have the interpreter in between. Row by row, in key order, by appending:
        LMDB's own compacting copy (mdb_env_copy2 with MDB_CP_COMPACT, LMDB 0.9.36 as py-lmdb
        3.0 bundles it) crashes the process on some stores (a compacted hot key)."""
        args = self._open_args
        dst = schema.open_env(path, args["map_size_bytes"], readonly=False,
                              max_readers=args["max_readers"])
        try:
            dst_dbs = schema.open_dbs(dst, create=True)  # empty: every row comes from the copy
            with dst.begin(write=True) as wtxn:
                for name, flags in schema.DATABASES.items():
                    dup = bool(flags.get("dupsort"))
                    out = wtxn.cursor(db=getattr(dst_dbs, name.decode()))
                    with txn.cursor(db=getattr(self._dbs, name.decode())) as cur:
                        rows = cur.iternext()
                        while chunk := list(itertools.islice(rows, chunk_rows)):
                            # MDB_APPEND refuses a key equal to the last one: not for dupsort
                            consumed, added = out.putmulti(chunk, dupdata=dup, append=not dup)
                            if consumed != added:
                                raise RuntimeError(f"copy of table {name!r} lost rows")
        finally:
            dst.close()

    @property
    def open_args(self) -> dict:
        """The settings this store was opened with, as open() takes them (a copy opens with
        the same)."""
        return dict(self._open_args, quota_backend_bytes=self._quota_backend_bytes,
                    compaction_batch_limit=self.compaction_batch_limit)

    def reopen(self, path: str) -> None:
        """Close the environment and open the one at `path` in its place (a copy of this
        store, see defrag.py), with the same settings."""
        if self._open_batch is not None:
            raise RuntimeError("reopen inside an open batch")
        self._env.close()
        self._env, self._dbs = _open_writer(path, **self._open_args)
        self._load_cached()

    # cached state (this process is the only writer)
    def current_revision(self) -> int:
        return self._rev

    def compact_revision(self) -> int:
        return self._compact_rev

    def applied_index(self) -> int:
        return self._applied_index

    def finished_compact_revision(self) -> int:
        """The last compaction physically done (a physical Compact(R) answers once >= R)."""
        return self._finished_compact_rev

    @property
    def compaction_pending(self) -> bool:
        return self._compact_rev > self._finished_compact_rev

    @property
    def nospace(self) -> bool:
        """A NOSPACE alarm is active: puts are capped (quota.py, rule 2)."""
        return self._nospace

    def batch(self, applied_index: int, applied_term: int = 0, *,
              record_events: bool = True) -> Batch:
        """Open the write batch for raft entries up to ``applied_index`` (use as ``with``)."""
        if self._open_batch is not None:
            raise RuntimeError("a batch is already open")
        if applied_index < self._applied_index:
            raise ValueError(f"applied index {applied_index} < stored {self._applied_index}")
        b = Batch(self, self._env.begin(write=True), applied_index, applied_term,
                  record_events)
        self._open_batch = b
        return b

    # --- compaction ----------------------------------------------------------------------------
    def compact_step(self, batch_limit: int = 0) -> bool:
        """Run one bounded compaction step in its own write transaction; True if more remain."""
        if not self.compaction_pending:
            return False
        if self._open_batch is not None:
            raise RuntimeError("compact_step inside an open batch")
        dbs = self._dbs
        with self._env.begin(write=True) as txn:
            cursor = (txn.get(schema.M_COMPACT_CURSOR, db=dbs.meta)
                      or compaction.start_cursor(self._finished_compact_rev))
            nxt, _ = compaction.compact_step(txn, dbs, self._compact_rev, cursor,
                                             batch_limit or self.compaction_batch_limit)
            if nxt is None:
                meta_put(txn, dbs, schema.M_FINISHED_COMPACT, self._compact_rev)
                txn.delete(schema.M_COMPACT_CURSOR, db=dbs.meta)
            else:
                txn.put(schema.M_COMPACT_CURSOR, nxt, db=dbs.meta)
            failpoint.hit("compact.before_commit")
        failpoint.hit("compact.after_commit")
        if nxt is None:
            self._finished_compact_rev = self._compact_rev
        return nxt is not None

    def run_compaction(self, batch_limit: int = 0) -> int:
        """Step until the scheduled compaction is physically done; returns the steps taken."""
        steps = 0
        while self.compaction_pending:
            self.compact_step(batch_limit)
            steps += 1
        return steps

    # --- maintenance ---------------------------------------------------------------------------
    def sync(self) -> int:
        """Force everything committed to disk; returns the applied index now durable."""
        self._env.sync(True)
        return self._applied_index

    def restore_from(self, path: str) -> int:
        """Replace the whole store with the one in the file at `path` (a leader's copy, see
        stages/transport/snapshot.py); returns its applied index.

        One write transaction: readers in other processes see the old store or the new one,
        and a crash leaves the old one (the file stays until the install is durable). This
        member's own identity in the meta table is kept."""
        if self._open_batch is not None:
            raise RuntimeError("restore inside an open batch")
        src = lmdb.open(path, subdir=False, readonly=True, lock=False, max_dbs=schema.MAX_DBS,
                        readahead=False)
        try:
            with src.begin() as stx:
                raw = stx.get(schema.M_SCHEMA_VERSION, db=src.open_db(schema.DB_META, txn=stx))
                if raw is None:
                    raise RuntimeError(f"{path}: not a petcd store")
                version = schema.U64.unpack(raw)[0]
                if version not in schema.UPGRADABLE_VERSIONS:
                    schema.check_version(version)
            dbs = self._dbs
            with self._env.begin(write=True) as txn, src.begin() as stx:
                keep = {k: txn.get(k, db=dbs.meta)
                        for k in (schema.M_CLUSTER_ID, schema.M_MEMBER_ID)}
                for name, flags in schema.DATABASES.items():
                    db = getattr(dbs, name.decode())
                    txn.drop(db, delete=False)
                    sdb = src.open_db(name, txn=stx, create=False, **flags)
                    _copy_table(stx, sdb, txn, db, bool(flags.get("dupsort")))
                for k, v in keep.items():
                    if v is not None:
                        txn.put(k, v, db=dbs.meta)
                # A copy from a member of an older build is brought to this one's schema.
                schema.upgrade(txn, dbs, version)
        finally:
            src.close()
        self._load_cached()
        return self._applied_index

    def lease_rows(self) -> list[tuple[int, int, int]]:
        """Every lease as (id, ttl, remaining ttl at its last checkpoint or 0)."""
        with self._env.begin() as txn:
            return [(i, *lease_store.get(txn, self._dbs, i))
                    for i in lease_store.ids(txn, self._dbs)]

    def reader_check(self) -> int:
        """Free reader slots left by dead processes; returns how many."""
        return self._env.reader_check()


class Batch(ReadView):
    """One LMDB write transaction applying a run of raft entries (see module docstring)."""
    __slots__ = ("_store", "applied_index", "applied_term", "events", "committed", "_begin",
                 "_sub", "_nospace", "_ids")

    def __init__(self, store: MvccStore, txn, applied_index: int, applied_term: int,
                 record_events: bool):
        super().__init__(txn, store._dbs, store._rev, store._compact_rev)
        self._store = store
        self.applied_index = applied_index
        self.applied_term = applied_term
        self.events: list[Event] | None = [] if record_events else None
        self.committed = False
        self._begin = self.rev
        self._sub = 0
        self._nospace = store._nospace
        self._ids: tuple[int, int] | None = None

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        store = self._store
        store._open_batch = None
        if exc_type is not None:
            self.tx.abort()
            return False
        txn, dbs = self.tx, self.dbs
        try:
            meta_put(txn, dbs, schema.M_APPLIED_INDEX, self.applied_index)
            meta_put(txn, dbs, schema.M_APPLIED_TERM, self.applied_term)
            if self.rev != store._rev or self.compact_rev != store._compact_rev:
                schema.write_revisions(txn, dbs, self.rev, self.compact_rev)
            if self._ids is not None:
                meta_put(txn, dbs, schema.M_CLUSTER_ID, self._ids[0])
                meta_put(txn, dbs, schema.M_MEMBER_ID, self._ids[1])
            failpoint.hit("apply.before_commit")
            if hoptrace.ON:
                hoptrace.point("lmdb commit")
            txn.commit()
            if hoptrace.ON:
                hoptrace.point("lmdb committed")
        except BaseException:
            txn.abort()
            raise
        store._rev = self.rev
        store._compact_rev = self.compact_rev
        store._applied_index = self.applied_index
        store._nospace = self._nospace
        self.committed = True
        return False

    # --- requests ------------------------------------------------------------------------------
    def put(self, req: PutRequest) -> PutResponse:
        if self._nospace:
            raise fresh(ErrNoSpace)
        key = req.key
        if not key:
            raise fresh(ErrEmptyKey)
        # etcd's order for a plain Put: the lease first, then ignore_* (apply.go Put).
        if req.lease and not lease_store.exists(self.tx, self.dbs, req.lease):
            raise fresh(ErrLeaseNotFound)
        self._begin = self.rev
        self._sub = 0
        return self.apply_put(req)

    def delete_range(self, req: DeleteRangeRequest) -> DeleteRangeResponse:
        self._begin = self.rev
        self._sub = 0
        return self.apply_delete_range(req)

    def txn(self, req: TxnRequest) -> TxnResponse:
        if self._nospace and txn_cost(req) > 0:
            raise fresh(ErrNoSpace)
        plan = txn_mod.make_plan(self, req)
        if not txn_mod.is_readonly(req):
            txn_mod.check_puts(self, plan, self._lease_exists)
        txn_mod.check_ranges(self, plan)
        self._begin = self.rev
        self._sub = 0
        responses = txn_mod.execute(self, plan)
        return TxnResponse(ResponseHeader(revision=self.rev), plan.succeeded, responses)

    def compact(self, req: CompactionRequest) -> CompactionResponse:
        """Schedule compaction at req.revision; the store's compact_step does the removal."""
        compaction.check(req.revision, self.rev, self.compact_rev)
        store = self._store
        if store._compact_rev == store._finished_compact_rev and \
                self.compact_rev == store._compact_rev:
            # None in progress: the scan starts after the last finished compaction.
            self.tx.put(schema.M_COMPACT_CURSOR,
                         compaction.start_cursor(store._finished_compact_rev), db=self.dbs.meta)
        self.compact_rev = req.revision
        return CompactionResponse(ResponseHeader(revision=self.rev))

    # --- leases, alarms, ids -------------------------------------------------------------------
    def lease_grant(self, lease_id: int, ttl: int) -> None:
        if self._nospace:
            raise fresh(ErrNoSpace)
        if lease_store.exists(self.tx, self.dbs, lease_id):
            raise fresh(ErrLeaseExist)
        lease_store.put(self.tx, self.dbs, lease_id, ttl)

    def lease_checkpoint(self, lease_id: int, remaining_ttl: int) -> tuple[int, int] | None:
        """Record a remaining TTL; returns the lease's (ttl, old remaining), None if gone."""
        row = lease_store.get(self.tx, self.dbs, lease_id)
        if row is not None:
            lease_store.put(self.tx, self.dbs, lease_id, row[0], remaining_ttl)
        return row

    def lease_revoke(self, lease_id: int) -> int:
        """Delete the lease and its keys (one revision if any); returns header.revision."""
        txn, dbs = self.tx, self.dbs
        if not lease_store.exists(txn, dbs, lease_id):
            raise fresh(ErrLeaseNotFound)
        self._begin = self.rev
        self._sub = 0
        for key in lease_store.keys(txn, dbs, lease_id):
            old = self.get(key)
            if old is not None:
                self._write_delete(key, old)
        lease_store.delete(txn, dbs, lease_id)
        return self.rev

    def alarm_activate(self, member_id: int, alarm: int) -> bool:
        changed = alarm_store.activate(self.tx, self.dbs, member_id, alarm)
        self._nospace = alarm_store.any_active(self.tx, self.dbs, AlarmType.NOSPACE)
        return changed

    def alarm_deactivate(self, member_id: int, alarm: int) -> bool:
        changed = alarm_store.deactivate(self.tx, self.dbs, member_id, alarm)
        self._nospace = alarm_store.any_active(self.tx, self.dbs, AlarmType.NOSPACE)
        return changed

    def set_cluster_ids(self, cluster_id: int, member_id: int) -> None:
        self._ids = (cluster_id, member_id)

    def member_put(self, member) -> None:
        members_store.put(self.tx, self.dbs, member)

    def member_get(self, member_id: int):
        return members_store.get(self.tx, self.dbs, member_id)

    def member_remove(self, member_id: int) -> bool:
        return members_store.remove(self.tx, self.dbs, member_id)

    def quota_available(self, req) -> bool:
        return self._store.quota_available(req)

    # --- the write paths (inside an op: _begin/_sub set by the request) ------------------------
    def _lease_exists(self, lease_id: int) -> bool:
        return lease_store.exists(self.tx, self.dbs, lease_id)

    def apply_put(self, req: PutRequest) -> PutResponse:
        key = req.key
        old = self.get(key)
        value, lease = req.value, req.lease
        if req.ignore_value or req.ignore_lease:
            if old is None:
                # Checked before any write of a Put; in a Txn only a request that skipped the
                # api's duplicate-key validation gets here (etcd panics).
                if self._sub:
                    raise RuntimeError("ignore_* put of a key deleted earlier in the same txn")
                raise fresh(ErrKeyNotFound)
            if req.ignore_value:
                value = old.value
            if req.ignore_lease:
                lease = old.lease
        self._write_put(key, value, lease, old)
        return PutResponse(ResponseHeader(revision=self.rev),
                           old if req.prev_kv else None)

    def apply_delete_range(self, req: DeleteRangeRequest) -> DeleteRangeResponse:
        olds, _ = self.range_kvs(req.key, req.range_end, self.rev)
        for old in olds:
            self._write_delete(old.key, old)
        return DeleteRangeResponse(ResponseHeader(revision=self.rev), len(olds),
                                   tuple(olds) if req.prev_kv else ())

    def _next_rev_key(self) -> tuple[int, bytes]:
        main = self._begin + 1
        sub = self._sub
        self._sub = sub + 1
        self.rev = main
        return main, _rev_pack(main, sub)

    def _write_put(self, key: bytes, value: bytes, lease: int, old: KeyValue | None) -> None:
        txn, dbs = self.tx, self.dbs
        main, rk = self._next_rev_key()
        if old is None:
            create, version, old_lease = main, 1, 0
        else:
            create, version, old_lease = old.create_revision, old.version + 1, old.lease
        sk = stored(key)
        txn.put(rk, encode_change(key, value, create, version, lease), db=dbs.rev)
        txn.put(sk, rk + PUT_SUFFIX, db=dbs.key, dupdata=True)
        txn.put(sk, encode_latest(key, create, main, version, lease, value, sk is not key),
                db=dbs.latest)
        if old_lease != lease:
            if old_lease:
                lease_store.detach(txn, dbs, old_lease, sk)
            if lease:
                lease_store.attach(txn, dbs, lease, sk)
        if self.events is not None:
            self.events.append(Event(_PUT, KeyValue(key, create, main, version, value, lease),
                                     old))

    def _write_delete(self, key: bytes, old: KeyValue) -> None:
        txn, dbs = self.tx, self.dbs
        main, rk = self._next_rev_key()
        sk = stored(key)
        txn.put(rk, encode_tombstone(key), db=dbs.rev)
        txn.put(sk, rk + TOMBSTONE_SUFFIX, db=dbs.key, dupdata=True)
        txn.delete(sk, db=dbs.latest)
        if old.lease:
            lease_store.detach(txn, dbs, old.lease, sk)
        if self.events is not None:
            self.events.append(Event(_DELETE, KeyValue(key, 0, main, 0, b"", 0), old))
