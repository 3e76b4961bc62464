"""Reads at a revision: etcd's Range (and the lookups Put, Txn and watch catch-up need).

Theory of operation. A ``ReadView`` is one LMDB transaction plus the two revisions that frame
it: ``rev`` (the current revision as this transaction sees it) and ``compact_rev``. The api
process builds one per read from a read-only transaction; the apply process's write batch *is*
a ReadView over its write transaction, so reads inside a Txn see that Txn's earlier writes.

Two paths, chosen by the revision asked for:
- at the current revision, ``latest`` alone answers: a point get is one lookup, a range is one
  cursor walk (values decoded only for the kvs returned; the rest of ``count`` walks keys only);
- at an older revision, the ``key`` index gives each key's newest change at or before it
  (``set_range_dup`` + ``prev_dup``; its flag says tombstone or not) and ``rev`` the row.

Range follows etcd 3.4's applierV3backend.Range exactly (reference/etcd-api.md 1.1): fetch all
if sorting or filtering, else limit+1; ``count`` is every key in the range at that revision,
before limit and before the min/max filters; sort_target != KEY with sort_order NONE sorts
ASCEND; sorting is stable over the key-ascending base order; keys_only drops values. The
header carries the current revision even for historical reads.

Must never: write; hold a transaction beyond one request (readers pin pages in LMDB).
"""
from __future__ import annotations

from operator import attrgetter

from petcd.common.errors import ErrCompacted, ErrFutureRev, EtcdError
from petcd.common.kv import (
    Event, EventType, KeyValue, RangeRequest, RangeResponse, ResponseHeader, SortOrder,
    SortTarget,
)
from petcd.stages.apply import long_keys, schema
from petcd.stages.apply.long_keys import PREFIX_BYTES, RAW_MAX_BYTES, seek_to, stored
from petcd.stages.apply.schema import (
    FLAG_PUT, IDX, REV, Dbs, change_key, decode_change, decode_latest, decode_latest_stored,
    idx_main, latest_key,
)

# A range_end of "\0" means "every key >= key" (etcd's mkGteRange).
UNBOUNDED = b"\x00"

_SORT_KEYS = {
    SortTarget.VERSION: attrgetter("version"),
    SortTarget.CREATE: attrgetter("create_revision"),
    SortTarget.MOD: attrgetter("mod_revision"),
    SortTarget.VALUE: attrgetter("value"),
}

_NONE = SortOrder.NONE
_DESCEND = SortOrder.DESCEND
_KEY = SortTarget.KEY
_VALUE = SortTarget.VALUE


_last_header = ResponseHeader()


def header(revision: int) -> ResponseHeader:
    """A header carrying ``revision`` (frozen, so reads at one revision share one instance)."""
    global _last_header
    h = _last_header
    if h.revision != revision:
        h = _last_header = ResponseHeader(0, 0, revision, 0)
    return h


def fresh(err: EtcdError) -> EtcdError:
    """A raisable copy of a catalogue error (common/errors.py: never raise the originals)."""
    return EtcdError(err.code, err.message)


class ReadView:
    """Reads over one LMDB transaction at revision ``rev`` (see module docstring)."""
    __slots__ = ("tx", "dbs", "rev", "compact_rev")

    def __init__(self, txn, dbs: Dbs, rev: int, compact_rev: int):
        self.tx = txn   # the LMDB transaction (`txn` is the Txn request on a Batch)
        self.dbs = dbs
        self.rev = rev
        self.compact_rev = compact_rev

    @classmethod
    def load(cls, txn, dbs: Dbs) -> ReadView:
        rev, compact = schema.read_revisions(txn, dbs)
        return cls(txn, dbs, rev, compact)

    # --- point lookups -----------------------------------------------------------------------
    def get(self, key: bytes) -> KeyValue | None:
        """The current KeyValue of ``key`` (one lookup in ``latest``), or None."""
        if not key:
            return None
        sk = key if len(key) <= RAW_MAX_BYTES else stored(key)   # stored(), inlined: hot
        row = self.tx.get(sk, db=self.dbs.latest)
        if row is None:
            return None
        kv = decode_latest_stored(sk, row)
        # A hashed stored key names its key only up to the digest: compare the whole key.
        return kv if sk is key or kv.key == key else None

    def kv_at(self, key: bytes, rev: int) -> KeyValue | None:
        """The KeyValue of ``key`` as of revision ``rev`` (None if absent or deleted then)."""
        if rev >= self.rev:
            return self.get(key)
        if not key:
            return None
        idx = idx_at(self.tx.cursor(db=self.dbs.key), stored(key), IDX.pack(rev + 1, 0, 0))
        if idx is None or idx[16] != FLAG_PUT:
            return None
        kv = decode_change(self.tx.get(idx[:16], db=self.dbs.rev), idx_main(idx))
        return kv if kv.key == key else None

    # --- Range -------------------------------------------------------------------------------
    def check_revision(self, revision: int) -> int:
        """etcd's rangeKeys revision rules; returns the revision to read at."""
        if revision > self.rev:
            raise fresh(ErrFutureRev)
        if revision <= 0:
            return self.rev
        if revision < self.compact_rev:
            raise fresh(ErrCompacted)
        return revision

    def range(self, req: RangeRequest) -> RangeResponse:
        rev = self.check_revision(req.revision)
        if not req.range_end:
            return self._range_one(req, rev)
        filtered = (req.min_mod_revision or req.max_mod_revision or req.min_create_revision
                    or req.max_create_revision)
        limit = req.limit
        sort_order = req.sort_order
        # etcd decides the fetch size on the *requested* order: a non-KEY target with order
        # NONE fetches limit+1 and sorts only those (apply.go Range).
        fetch = 0 if (sort_order != _NONE or filtered) else (limit + 1 if limit > 0 else 0)
        sort_target = req.sort_target
        if sort_target != _KEY and sort_order == _NONE:
            sort_order = SortOrder.ASCEND
        keys_only = req.keys_only
        with_value = not keys_only or (sort_order != _NONE and sort_target == _VALUE)
        kvs, count = self.range_kvs(req.key, req.range_end, rev, fetch, req.count_only,
                                    with_value)
        if filtered and kvs:
            kvs = _prune(kvs, req)
        if sort_order != _NONE and len(kvs) > 1:
            if sort_target == _KEY:
                if sort_order == _DESCEND:
                    kvs.reverse()
            else:
                # list.sort is stable (also with reverse=True): ties keep key-ascending order.
                kvs.sort(key=_SORT_KEYS[sort_target], reverse=sort_order == _DESCEND)
        more = False
        if 0 < limit < len(kvs):
            del kvs[limit:]
            more = True
        if keys_only and with_value:
            kvs = [KeyValue(kv.key, kv.create_revision, kv.mod_revision, kv.version, b"",
                            kv.lease) for kv in kvs]
        return RangeResponse(header(self.rev), tuple(kvs), more, count)

    def _range_one(self, req: RangeRequest, rev: int) -> RangeResponse:
        """The single-key Range, the common read: count <= 1, so limit and sort are moot."""
        kv = self.get(req.key) if rev >= self.rev else self.kv_at(req.key, rev)
        if kv is None:
            return RangeResponse(header(self.rev), (), False, 0)
        if req.count_only or (
                (req.min_mod_revision or req.max_mod_revision or req.min_create_revision
                 or req.max_create_revision) and not _prune([kv], req)):
            return RangeResponse(header(self.rev), (), False, 1)
        if req.keys_only:
            kv = KeyValue(kv.key, kv.create_revision, kv.mod_revision, kv.version, b"", kv.lease)
        return RangeResponse(header(self.rev), (kv,), False, 1)

    def range_kvs(self, key: bytes, range_end: bytes, rev: int, fetch: int = 0,
                  count_only: bool = False, with_value: bool = True
                  ) -> tuple[list[KeyValue], int]:
        """mvcc's rangeKeys: (the first ``fetch`` kvs (0 = all), count of keys in range at rev).

        ``rev`` must already be checked (``check_revision``).
        """
        if not range_end:
            kv = self.kv_at(key, rev) if rev < self.rev else self.get(key)
            if kv is None:
                return [], 0
            return ([] if count_only else [kv]), 1
        end = None if range_end == UNBOUNDED else range_end
        if end is not None and key >= end:
            return [], 0
        if rev >= self.rev:
            return self._range_latest(key, end, fetch, count_only, with_value)
        return self._range_history(key, end, rev, fetch, count_only, with_value)

    def _range_latest(self, key, end, fetch, count_only, with_value):
        txn = self.tx
        latest = self.dbs.latest
        if count_only and end is None and key <= UNBOUNDED:
            return [], txn.stat(latest)["entries"]   # every key: no walk needed
        if count_only:
            return [], self._count_latest(key, end)
        cur = txn.cursor(db=latest)
        if not cur.set_range(seek_to(key)):
            return [], 0
        kvs: list[KeyValue] = []
        if long_keys.exact(key, end):
            # Up to the first zone (long_keys.py) a stored key is its user key: the plain loop.
            for k, row in cur.iternext():
                if end is not None and k >= end:
                    return kvs, len(kvs)
                if len(k) > PREFIX_BYTES:
                    break                     # walk() takes over at this row
                kvs.append(decode_latest(k, row, with_value))
                if len(kvs) == fetch:
                    return kvs, self._count_latest(key, end)
            else:
                return kvs, len(kvs)
        for _, sk, row in long_keys.walk(cur.iternext(), key, end, self._latest_key_of):
            kvs.append(decode_latest_stored(sk, row, with_value))
            if len(kvs) == fetch:
                # Enough kvs; count the whole range on keys alone.
                return kvs, self._count_latest(key, end)
        return kvs, len(kvs)

    def _count_latest(self, key: bytes, end: bytes | None) -> int:
        cur = self.tx.cursor(db=self.dbs.latest)
        if not cur.set_range(seek_to(key)):
            return 0
        return long_keys.count(cur.iternext(keys=True, values=False), key, end,
                               self._latest_key_of)

    def _latest_key_of(self, sk: bytes, row: bytes | None) -> bytes:
        return latest_key(self.tx.get(sk, db=self.dbs.latest) if row is None else row)

    def _range_history(self, key, end, rev, fetch, count_only, with_value):
        txn = self.tx
        rev_db = self.dbs.rev
        keys = txn.cursor(db=self.dbs.key)
        if not keys.set_range(seek_to(key)):
            return [], 0
        cur = txn.cursor(db=self.dbs.key)
        probe = IDX.pack(rev + 1, 0, 0)
        kvs: list[KeyValue] = []
        count = 0

        def visit(sk: bytes) -> None:
            nonlocal count
            idx = idx_at(cur, sk, probe)
            if idx is not None and idx[16] == FLAG_PUT:
                count += 1
                if not count_only and (fetch == 0 or len(kvs) < fetch):
                    kvs.append(decode_change(txn.get(idx[:16], db=rev_db), idx_main(idx),
                                             with_value))

        if long_keys.exact(key, end):
            for k in keys.iternext_nodup():   # the plain loop, as in _range_latest
                if end is not None and k >= end:
                    return kvs, count
                if len(k) > PREFIX_BYTES:
                    break
                visit(k)
            else:
                return kvs, count

        def key_of(sk: bytes, first_idx: bytes | None) -> bytes:
            return change_key(txn.get(first_idx[:16], db=rev_db))

        for _, sk, _ in long_keys.walk(keys.iternext_nodup(keys=True, values=True), key, end,
                                       key_of):
            visit(sk)
        return kvs, count

    # --- history for watch catch-up -----------------------------------------------------------
    def events(self, start_revision: int, end_revision: int = 0, prev_kv: bool = False,
               limit: int = 0) -> list[Event]:
        """The events of revisions [start_revision, end_revision] (0 = current), in order.

        For a watcher catching up from LMDB. start_revision below the compact revision raises
        ErrCompacted (the watch is then canceled with compact_revision). ``limit`` (0 = none)
        bounds the number of events returned; callers resume from the last one's revision.
        """
        if start_revision < self.compact_rev:
            raise fresh(ErrCompacted)
        stop = REV.pack((end_revision if end_revision > 0 else self.rev) + 1, 0)
        txn = self.tx
        idx_cur = txn.cursor(db=self.dbs.key) if prev_kv else None
        out: list[Event] = []
        cur = txn.cursor(db=self.dbs.rev)
        if not cur.set_range(REV.pack(max(start_revision, 1), 0)):
            return out
        for k, row in cur.iternext():
            if k >= stop or (limit and len(out) >= limit):
                break
            kv = decode_change(row, idx_main(k))
            tomb = schema.change_is_tombstone(row)
            prev = None
            if idx_cur is not None:
                prev = self._prev_of(idx_cur, kv.key, k)
            out.append(Event(EventType.DELETE if tomb else EventType.PUT, kv, prev))
        return out

    def _prev_of(self, cur, key: bytes, rev_key: bytes) -> KeyValue | None:
        """The KeyValue of ``key`` just before the change at ``rev_key`` (None if absent)."""
        if not cur.set_range_dup(stored(key), rev_key + b"\x00") or not cur.prev_dup():
            return None
        idx = cur.value()
        if idx[16] != FLAG_PUT:
            return None
        return decode_change(self.tx.get(idx[:16], db=self.dbs.rev), idx_main(idx))


def idx_at(cur, sk: bytes, probe: bytes) -> bytes | None:
    """The key-index value of stored key ``sk``'s newest change below ``probe`` = (rev+1, 0,
    0)."""
    if cur.set_range_dup(sk, probe):
        return cur.value() if cur.prev_dup() else None
    if cur.set_key(sk) and cur.last_dup():
        return cur.value()
    return None


def _prune(kvs: list[KeyValue], req: RangeRequest) -> list[KeyValue]:
    # Bounds are inclusive; 0 = unset (apply.go pruneKVs).
    lo_mod, hi_mod = req.min_mod_revision, req.max_mod_revision
    lo_cr, hi_cr = req.min_create_revision, req.max_create_revision
    return [kv for kv in kvs
            if not (hi_mod and kv.mod_revision > hi_mod)
            and not (lo_mod and kv.mod_revision < lo_mod)
            and not (hi_cr and kv.create_revision > hi_cr)
            and not (lo_cr and kv.create_revision < lo_cr)]
