"""Read-only access to the MVCC store from other processes (api workers), and the read API
the writer shares.

Theory of operation. ``MvccReader.open(path)`` opens the environment the apply stage created,
read-only (lock=True: LMDB's reader table in ``lock.mdb`` is shared by every process). Each call
is one short read transaction, a snapshot of the last committed batch, so a reader never sees
half a batch; ``view()`` gives several reads from one snapshot. The reader adopts the writer's
map size at open and again if the writer grows it (MDB_MAP_RESIZED).

Open it in the process that uses it (after spawn/fork, never inherited), once per process:
py-lmdb refuses a second open of one path in a process, so a process that holds the
``MvccStore`` reads through the store (the same ``ReadApi``) instead.

Must never: write; keep a read transaction open across requests (it pins pages, and the
db grows).
"""
from __future__ import annotations

import time
import zlib

import lmdb

from petcd.common.errors import ErrTimeout, EtcdError
from petcd.common.kv import (
    Event, KeyValue, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
)
from petcd.stages.apply import txn as txn_mod
from petcd.stages.apply import (
    alarm_store, auth_store, compaction, lease_store, members_store, schema,
)
from petcd.stages.apply.alarm_store import AlarmType
from petcd.stages.apply.answered import AnsweredIndex
from petcd.stages.apply.quota import Quota, request_cost
from petcd.stages.apply.read import ReadView
from petcd.stages.apply.schema import Dbs, meta_get


class ReadApi:
    """The read API of the writer and the readers alike: one read transaction per call."""
    _env: lmdb.Environment
    _dbs: Dbs
    _quota: Quota
    _page_bytes: int | None = None

    def _begin_read(self):
        return self._env.begin()

    def answered_index(self) -> int:
        """The highest index whose results a client may have seen before they were visible
        here (answered.py); the writer's own reads see its commits."""
        return 0

    def view(self) -> _ViewContext:
        """``with store.view() as v:`` several reads from one snapshot."""
        return _ViewContext(self)

    def range(self, req: RangeRequest) -> RangeResponse:
        txn = self._begin_read()
        try:
            rev, compact = schema.read_revisions(txn, self._dbs)
            return ReadView(txn, self._dbs, rev, compact).range(req)
        finally:
            txn.abort()

    def txn_readonly(self, req: TxnRequest) -> TxnResponse:
        """A txn whose ops are all ranges, served from one snapshot without raft (as etcd
        does after its linearizable read barrier)."""
        if not txn_mod.is_readonly(req):
            raise ValueError("txn_readonly needs a txn of ranges only")
        txn = self._begin_read()
        try:
            rev, compact = schema.read_revisions(txn, self._dbs)
            view = ReadView(txn, self._dbs, rev, compact)
            plan = txn_mod.make_plan(view, req)
            txn_mod.check_ranges(view, plan)
            return TxnResponse(ResponseHeader(revision=rev), plan.succeeded,
                               txn_mod.execute(view, plan))
        finally:
            txn.abort()

    def get(self, key: bytes) -> KeyValue | None:
        with self.view() as v:
            return v.get(key)

    def current_revision(self) -> int:
        with self.view() as v:
            return v.rev

    def compact_revision(self) -> int:
        with self.view() as v:
            return v.compact_rev

    def applied_index(self) -> int:
        with self.view() as v:
            return meta_get(v.tx, self._dbs, schema.M_APPLIED_INDEX)

    def applied_term(self) -> int:
        with self.view() as v:
            return meta_get(v.tx, self._dbs, schema.M_APPLIED_TERM)

    def cluster_ids(self) -> tuple[int, int]:
        """(cluster_id, member_id) as stored (0 if never set)."""
        with self.view() as v:
            return (meta_get(v.tx, self._dbs, schema.M_CLUSTER_ID),
                    meta_get(v.tx, self._dbs, schema.M_MEMBER_ID))

    def hash_kv(self, revision: int = 0) -> tuple[int, int, int]:
        """etcd HashKV: (hash, current revision, compact revision)."""
        with self.view() as v:
            return compaction.hash_kv(v, revision)

    def hash(self) -> int:
        """etcd's Hash: a CRC32 of the whole replicated store (every revision of every key,
        leases, alarms), so members holding the same data give the same hash. Member-local
        bookkeeping (the meta table: applied index, member id) is left out."""
        crc = zlib.crc32
        h = 0
        with self.view() as v:
            for name in ("rev", "key", "lease", "lease_keys", "alarm", "auth", "members"):
                db = getattr(self._dbs, name)
                h = crc(name.encode(), h)
                for k, val in v.tx.cursor(db=db).iternext():
                    h = crc(val, crc(k, h))
        return h

    def events(self, start_revision: int, end_revision: int = 0, prev_kv: bool = False,
               limit: int = 0) -> list[Event]:
        with self.view() as v:
            return v.events(start_revision, end_revision, prev_kv, limit)

    def lease(self, lease_id: int) -> tuple[int, int] | None:
        """(granted ttl, remaining ttl at last checkpoint) or None."""
        with self.view() as v:
            return lease_store.get(v.tx, self._dbs, lease_id)

    def lease_keys(self, lease_id: int) -> list[bytes]:
        with self.view() as v:
            return lease_store.keys(v.tx, self._dbs, lease_id)

    def leases(self) -> list[int]:
        with self.view() as v:
            return lease_store.ids(v.tx, self._dbs)

    def members(self) -> list:
        with self.view() as v:
            return members_store.all_members(v.tx, self._dbs)

    def membership(self) -> tuple[list, list[int]]:
        """(members, removed ids), read together."""
        with self.view() as v:
            return (members_store.all_members(v.tx, self._dbs),
                    members_store.removed_ids(v.tx, self._dbs))

    def alarms(self) -> list[tuple[int, AlarmType]]:
        with self.view() as v:
            return alarm_store.active(v.tx, self._dbs)

    # --- auth (auth_store.py) ------------------------------------------------------------------
    def auth_state(self) -> tuple[bool, int]:
        """(auth enabled, auth revision)."""
        with self.view() as v:
            return (auth_store.enabled(v.tx, self._dbs.auth),
                    auth_store.revision(v.tx, self._dbs.auth))

    def auth_user(self, name: str) -> tuple[auth_store.User | None, object]:
        """(the user or None, its merged permissions or None), read together."""
        with self.view() as v:
            user = auth_store.get_user(v.tx, self._dbs.auth, name)
            perms = None if user is None else auth_store.user_perms(v.tx, self._dbs.auth, user)
            return user, perms

    def auth_role(self, name: str):
        with self.view() as v:
            return auth_store.get_role(v.tx, self._dbs.auth, name)

    def auth_users(self) -> tuple[str, ...]:
        with self.view() as v:
            return auth_store.users(v.tx, self._dbs.auth)

    def auth_roles(self) -> tuple[str, ...]:
        with self.view() as v:
            return auth_store.roles(v.tx, self._dbs.auth)

    # --- space ---------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        """The database's size: its high-water mark in pages (bolt's file size in etcd)."""
        if self._page_bytes is None:  # fixed for the environment's life
            self._page_bytes = self._env.stat()["psize"]
        return (self._env.info()["last_pgno"] + 1) * self._page_bytes

    def size_in_use_bytes(self) -> int:
        """Bytes in pages holding data (size_bytes minus free pages, roughly)."""
        env = self._env
        st = env.stat()
        pages = 2 + st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"]
        with self.view() as v:
            for name in schema.DATABASES:
                s = v.tx.stat(getattr(self._dbs, name.decode()))
                pages += s["branch_pages"] + s["leaf_pages"] + s["overflow_pages"]
        return pages * st["psize"]

    def quota_available(self, req, size: int | None = None) -> bool:
        """Would ``req`` (Put or Txn) keep the db under the quota? (quota.py, rule 1). size:
        req's protobuf size, if the caller has it."""
        return self._quota.available(self.size_bytes(), request_cost(req, size))


class _ViewContext:
    __slots__ = ("_owner", "_txn")

    def __init__(self, owner: ReadApi):
        self._owner = owner
        self._txn = None

    def __enter__(self) -> ReadView:
        self._txn = self._owner._begin_read()
        return ReadView.load(self._txn, self._owner._dbs)

    def __exit__(self, *exc) -> None:
        self._txn.abort()


def _open_reader(path: str, max_readers: int) -> tuple[lmdb.Environment, Dbs]:
    env = schema.open_env(path, 0, readonly=True, max_readers=max_readers)
    try:
        # Adopt the writer's map size (recorded in the environment), not our own guess.
        env.set_mapsize(0)
        dbs = schema.open_dbs(env, create=False)
        with env.begin() as txn:
            raw = txn.get(schema.M_SCHEMA_VERSION, db=dbs.meta)
            if raw is None:
                raise RuntimeError(f"{path}: store not initialised")
            schema.check_version(schema.U64.unpack(raw)[0])
    except BaseException:
        env.close()
        raise
    return env, dbs


class MvccReader(ReadApi):
    """Read-only access from another process (api workers). Not for the writer's process."""

    # How long a read waits for apply to commit a batch it has answered (answered.py): a
    # commit takes a millisecond or so; past this, apply is gone and the member is stopping.
    VISIBLE_WAIT_S = 5.0
    _VISIBLE_POLL_S = 0.0001

    def __init__(self, env: lmdb.Environment, dbs: Dbs, quota: Quota,
                 answered: AnsweredIndex | None = None):
        self._env = env
        self._dbs = dbs
        self._quota = quota
        self.answered = answered
        self._visible = 0  # the highest applied index a snapshot of ours has shown

    def answered_index(self) -> int:
        """The highest index whose results a client may have seen (answered.py): what the
        client's next request must be served at or past."""
        return self.answered.value() if self.answered is not None else 0

    @classmethod
    def open(cls, path: str, *, max_readers: int = schema.DEFAULT_MAX_READERS,
             quota_backend_bytes: int = 0,
             answered: AnsweredIndex | None = None) -> MvccReader:
        """Open the store the apply stage created (RuntimeError if it has not yet).
        answered: apply's counter; given, every read waits for the batches it covers."""
        reader = cls(*_open_reader(path, max_readers), Quota(quota_backend_bytes), answered)
        reader._path, reader._max_readers = path, max_readers
        return reader

    def close(self) -> None:
        self._env.close()

    def reopen(self) -> None:
        """Open the store at the same path again: the apply stage moved it to a new file
        (a defragmented copy, stages/apply/defrag.py). No read transaction may be open."""
        self._env.close()
        self._env, self._dbs = _open_reader(self._path, self._max_readers)

    def copy_to(self, fd: int) -> None:
        """Write a consistent copy of the store to `fd`, as one LMDB file: a read transaction's
        view, so the writer is never blocked (schema.copy_to_fd). Blocks for the copy's
        length: run it off the event loop."""
        self._begin_read().abort()  # at least every answered batch (answered.py)
        schema.copy_to_fd(self._env, fd)

    def _begin_read(self):
        txn = self._begin()
        want = self.answered_index()
        deadline = None
        while want > self._visible:
            self._visible = meta_get(txn, self._dbs, schema.M_APPLIED_INDEX)
            if self._visible >= want:
                break
            # apply has answered a batch it has not committed yet (answered.py, condition
            # (c)): this read may follow one of those answers, so it waits for the commit
            # (about the length of an fdatasync), blocking the worker's loop that long.
            txn.abort()
            if deadline is None:
                deadline = time.monotonic() + self.VISIBLE_WAIT_S
            elif time.monotonic() > deadline:
                raise EtcdError(ErrTimeout.code, ErrTimeout.message)
            time.sleep(self._VISIBLE_POLL_S)
            txn = self._begin()
        return txn

    def _begin(self):
        try:
            return self._env.begin()
        except lmdb.MapResizedError:
            # The writer grew the map: adopt the new size (no txn of ours may be open).
            self._env.set_mapsize(0)
            return self._env.begin()
