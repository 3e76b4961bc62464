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
from petcd.stages.apply import schema
from petcd.stages.apply.schema import (
    FLAG_PUT, IDX, MAX_KEY_BYTES, REV, Dbs, decode_change, decode_latest, idx_main,
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
        if len(key) > MAX_KEY_BYTES or not key:
            return None
        row = self.tx.get(key, db=self.dbs.latest)
        return None if row is None else decode_latest(key, row)

    def kv_at(self, key: bytes, rev: int) -> KeyValue | None:
        """The KeyValue of ``key`` as of revision ``rev`` (None if absent or deleted then)."""
        if rev >= self.rev:
            return self.get(key)
        if len(key) > MAX_KEY_BYTES or not key:
            return None
        idx = idx_at(self.tx.cursor(db=self.dbs.key), key, IDX.pack(rev + 1, 0, 0))
        if idx is None or idx[16] != FLAG_PUT:
            return None
        return decode_change(self.tx.get(idx[:16], db=self.dbs.rev), idx_main(idx))

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
        if count_only and end is None and key <= UNBOUNDED:
            return [], txn.stat(self.dbs.latest)["entries"]   # every key: no walk needed
        cur = txn.cursor(db=self.dbs.latest)
        if not _seek(cur, key):
            return [], 0
        count = 0
        kvs: list[KeyValue] = []
        if not count_only:
            done = True
            for k, v in cur.iternext():
                if end is not None and k >= end:
                    return kvs, count
                count += 1
                kvs.append(decode_latest(k, v, with_value))
                if count == fetch:
                    done = False
                    break
            if done or not cur.next():
                return kvs, count
        # Count the rest of the range on keys alone.
        if end is None:
            for _ in cur.iternext(keys=True, values=False):
                count += 1
        else:
            for k in cur.iternext(keys=True, values=False):
                if k >= end:
                    break
                count += 1
        return kvs, count

    def _range_history(self, key, end, rev, fetch, count_only, with_value):
        txn = self.tx
        rev_db = self.dbs.rev
        cur = txn.cursor(db=self.dbs.key)
        probe = IDX.pack(rev + 1, 0, 0)
        kvs: list[KeyValue] = []
        count = 0
        ok = _seek(cur, key)
        while ok:
            k = cur.key()
            if end is not None and k >= end:
                break
            idx = idx_at(cur, k, probe)
            if idx is not None and idx[16] == FLAG_PUT:
                count += 1
                if not count_only and (fetch == 0 or len(kvs) < fetch):
                    kvs.append(decode_change(txn.get(idx[:16], db=rev_db), idx_main(idx),
                                             with_value))
            ok = cur.set_key(k) and cur.next_nodup()
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
        if not cur.set_range_dup(key, rev_key + b"\x00") or not cur.prev_dup():
            return None
        idx = cur.value()
        if idx[16] != FLAG_PUT:
            return None
        return decode_change(self.tx.get(idx[:16], db=self.dbs.rev), idx_main(idx))


def _seek(cur, key: bytes) -> bool:
    """Position ``cur`` at the first key >= ``key`` (keys longer than LMDB's limit included)."""
    if len(key) <= MAX_KEY_BYTES:
        return cur.set_range(key)
    # No stored key is that long; the only stored key in [key[:MAX], key) is key[:MAX] itself.
    if not cur.set_range(key[:MAX_KEY_BYTES]):
        return False
    return cur.next() if cur.key() < key else True


def idx_at(cur, key: bytes, probe: bytes) -> bytes | None:
    """The key-index value of ``key``'s newest change below ``probe`` = (rev+1, 0, 0)."""
    if cur.set_range_dup(key, probe):
        return cur.value() if cur.prev_dup() else None
    if cur.set_key(key) and cur.last_dup():
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
