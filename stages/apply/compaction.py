"""Compaction of history, in bounded steps, and HashKV over the history that survives it.

Theory of operation. ``Compact(R)`` is applied in a batch like any entry: it checks
(R <= compact revision -> ErrCompacted, R > current -> ErrFutureRev) and moves the compact
revision to R at once, so reads below R fail from that log position on, on every member. The
physical removal then runs in ``compact_step`` calls, each its own short write transaction
bounded by ``batch_limit`` scanned rows, so a huge compaction never blocks the apply loop for
long (etcd's compaction batch limit). Progress (a ``rev`` key cursor) is kept in ``meta`` with
the step's deletions, so a crash resumes where it stopped; steps are idempotent.

What goes: every change at or below R that is superseded by a later change at or below R, and
the newest change at or below R too when it is a tombstone (its generation has ended). So the
newest version <= R of every key alive at R stays, and reads at any revision >= R are
unchanged. Only keys changed in (previous compact revision, R] can have anything to remove:
a removable change r < s <= R with s <= the previous compact revision was removed then, and a
tombstone at or below the previous compact revision was removed then too. So a step scans the
``rev`` rows of that window, collects their keys, and prunes each key's history through the
``key`` index (deleting the ``rev`` rows it names). A later Compact(R2) arriving mid-way just
raises the bound; the same cursor continues (the argument above holds for R2).

``hash_kv(view, R)`` is etcd's HashKV: a CRC over the ``rev`` rows at or below R, skipping rows
at or below the compact revision that compaction at R would not keep, so the hash does not
depend on how far the physical compaction has got. CRC32 is zlib's (IEEE), not etcd's
Castagnoli: the rows are petcd's encoding anyway, so the hash is only comparable between petcd
members, which is its use (corruption checks).

Must never: remove a change above R, or the newest put at or below R of a key.
"""
from __future__ import annotations

import zlib

from petcd.common.errors import ErrCompacted, ErrFutureRev
from petcd.stages.apply.long_keys import stored
from petcd.stages.apply.read import ReadView, idx_at, fresh
from petcd.stages.apply.schema import DB_KEY, FLAG_PUT, IDX, REV, Dbs, change_key, idx_main

DEFAULT_BATCH_LIMIT = 1000   # etcd --experimental-compaction-batch-limit


def check(revision: int, current_rev: int, compact_rev: int) -> None:
    """etcd's updateCompactRev checks."""
    if revision <= compact_rev:
        raise fresh(ErrCompacted)
    if revision > current_rev:
        raise fresh(ErrFutureRev)


def start_cursor(previous_compact_rev: int) -> bytes:
    """Where the scan for a compaction starts when none is in progress: at the previous
    compact revision itself, whose tombstones were kept for watchers (see _compact_key)."""
    return REV.pack(max(previous_compact_rev, 1), 0)


def compact_step(txn, dbs: Dbs, revision: int, cursor: bytes, batch_limit: int
                 ) -> tuple[bytes | None, int]:
    """One bounded step of compaction at ``revision`` from ``cursor``.

    Returns (the cursor to resume from, or None when done; the number of rows removed).
    """
    stop = REV.pack(revision + 1, 0)
    keys: dict[bytes, None] = {}
    next_cursor = None
    cur = txn.cursor(db=dbs.rev)
    if cur.set_range(cursor):
        scanned = 0
        for k, row in cur.iternext():
            if k >= stop:
                break
            if scanned >= batch_limit:
                next_cursor = k
                break
            scanned += 1
            keys[stored(change_key(row))] = None
    # Prune after the scan: deleting rows under a live iterator is asking for trouble.
    removed = 0
    idx_cur = txn.cursor(db=dbs.key)
    probe = IDX.pack(revision + 1, 0, 0)
    for key in keys:
        removed += _compact_key(txn, dbs, idx_cur, key, probe, revision)
    return next_cursor, removed


def _compact_key(txn, dbs: Dbs, cur, sk: bytes, probe: bytes, revision: int) -> int:
    """Prune the history of stored key ``sk``; returns the rows removed."""
    newest = idx_at(cur, sk, probe)
    if newest is None:
        return 0
    # A tombstone exactly at the compact revision stays (until a later compaction): a watch
    # may start at the compact revision and must see that delete. etcd 3.4.23 drops it and
    # loses the event (etcd #18089, fixed upstream by keeping it, #18274); our robustness run
    # 34011 caught the same loss.
    keep_newest = newest[16] == FLAG_PUT or idx_main(newest) == revision
    rev_db = dbs.rev
    removed = 0
    if not cur.set_key(sk):
        return 0
    while True:
        idx = cur.value()
        if idx > newest or (keep_newest and idx == newest):
            break
        txn.delete(idx[:16], db=rev_db)
        removed += 1
        # delete() moves to the next dup, or to the next key after the last one.
        if not cur.delete() or cur.key() != sk:
            break
    return removed


def hash_kv(view: ReadView, revision: int = 0) -> tuple[int, int, int]:
    """(hash, current revision, compact revision) of the history at ``revision`` (0 = current)."""
    compact, current = view.compact_rev, view.rev
    if revision > 0 and revision <= compact:
        raise fresh(ErrCompacted)
    if revision > current:
        raise fresh(ErrFutureRev)
    if revision <= 0:
        revision = current
    txn = view.tx
    stop = REV.pack(revision + 1, 0)
    probe = IDX.pack(revision + 1, 0, 0)
    idx_cur = txn.cursor(db=view.dbs.key)
    h = zlib.crc32(DB_KEY)
    crc = zlib.crc32
    for k, row in txn.cursor(db=view.dbs.rev).iternext():
        if k >= stop:
            break
        if idx_main(k) <= compact:
            # Kept by a compaction at `revision` iff it is the key's newest put <= revision.
            newest = idx_at(idx_cur, stored(change_key(row)), probe)
            if newest is None or newest[16] != FLAG_PUT or newest[:16] != k:
                continue
        h = crc(row, crc(k, h))
    return h, current, compact
