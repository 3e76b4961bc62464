"""Keys longer than LMDB's 511-byte key limit: stored form, order, history, leases, upgrade."""
import random

import pytest

from petcd.common.kv import (
    CompactionRequest, EventType, KeyValue, PutRequest, RangeRequest, SortOrder,
)
from petcd.stages.apply import long_keys, schema
from petcd.stages.apply.long_keys import PREFIX_BYTES, RAW_MAX_BYTES, stored
from tests.unit.mvcc_util import Applier, apply, keys, open_store, rng, store  # noqa: F401

P = b"p" * PREFIX_BYTES
ALL = (b"\0", b"\0")


def test_stored_form():
    short = b"k" * RAW_MAX_BYTES
    assert stored(short) is short
    a, b = P + b"a" * 20, P + b"a" * 19 + b"b"
    assert len(stored(a)) == len(stored(b)) == 511 and stored(a) != stored(b)
    assert stored(a).startswith(P) and long_keys.is_hashed(stored(a))
    assert not long_keys.is_hashed(short)
    # A 511-byte key is hashed too, so no raw key can pose as another key's digest form.
    assert stored(b"x" * 511) != b"x" * 511
    assert long_keys.seek_to(b"abc") == b"abc" and long_keys.seek_to(a) == P


def test_walk_sorts_a_zone_and_applies_long_bounds():
    users = [P + b"b", P + b"a" * 30, P + b"a" * 16 + b"\x00" * 10, P + b"\xff", P,
             P + b"a" * 16 + b"z"]
    rows = sorted((stored(k), k) for k in users)
    def resolve(sk, row):
        return row
    got = [uk for uk, _, _ in long_keys.walk(rows, b"", None, resolve)]
    assert got == sorted(users)
    lo, hi = P + b"a" * 16, P + b"b"
    got = [uk for uk, _, _ in long_keys.walk(
        (r for r in rows if r[0] >= long_keys.seek_to(lo)), lo, hi, resolve)]
    assert got == [k for k in sorted(users) if lo <= k < hi]
    assert long_keys.count([r[0] for r in rows if r[0] >= P], lo, hi,
                           lambda sk, row: dict(rows)[sk]) == len(got)


def test_put_get_range_delete_long_keys(store, apply):
    k1, k2, k3 = P + b"a" * 40, P + b"a" * 16 + b"\x00", b"q" * 2000
    apply.put(k1, b"v1")
    apply.put(k2, b"v2")
    apply.put(k3, b"v3")
    apply.put(P + b"b", b"raw")
    assert store.get(k1) == KeyValue(k1, 2, 2, 1, b"v1", 0)
    assert store.get(P + b"a" * 41) is None
    assert keys(rng(store, *ALL)) == sorted([k1, k2, k3, P + b"b"])
    r = rng(store, *ALL, limit=2)
    assert keys(r) == sorted([k1, k2, k3, P + b"b"])[:2] and r.more and r.count == 4
    assert keys(rng(store, *ALL, sort_order=SortOrder.DESCEND)) == sorted(
        [k1, k2, k3, P + b"b"], reverse=True)
    assert rng(store, P, P + b"b", count_only=True).count == 2
    assert keys(rng(store, k1)) == [k1]
    # An overwrite keeps create_revision and bumps version.
    resp = apply.put(k1, b"v1b", prev_kv=True)
    assert resp.prev_kv.value == b"v1" and store.get(k1).version == 2
    d = apply.delete(P, P + b"\xff", prev_kv=True)
    assert d.deleted == 3 and [kv.key for kv in d.prev_kvs] == sorted([k1, k2, P + b"b"])
    assert keys(rng(store, *ALL)) == [k3]
    # History: before the delete everything is there, in order, values intact.
    r = rng(store, *ALL, revision=6)
    assert keys(r) == sorted([k1, k2, k3, P + b"b"])
    assert [kv.value for kv in r.kvs if kv.key == k1] == [b"v1b"]


def test_huge_key_needs_the_long_length_field(store, apply):
    huge = b"h" * 70_000
    apply.put(huge, b"v")
    apply.put(huge, b"w")
    assert store.get(huge).value == b"w"
    ev = store.events(2, prev_kv=True)
    assert [e.kv.key for e in ev] == [huge, huge] and ev[1].prev_kv.value == b"v"
    apply.delete(huge)
    assert store.events(4)[0].type == EventType.DELETE and store.events(4)[0].kv.key == huge
    assert rng(store, huge, revision=3).kvs[0].value == b"w"
    apply("compact", CompactionRequest(4))
    store.run_compaction()
    assert rng(store, *ALL).count == 0


def test_leases_revoke_long_keys_in_key_order(store, apply):
    ks = [P + b"z" * 30, P + b"a" * 30, b"short", P + b"m"]
    apply("lease_grant", 7, 60)
    for k in ks:
        apply.put(k, b"v", lease=7)
    assert store.lease_keys(7) == sorted(ks)
    with store.batch(apply.index + 1) as b:
        b.lease_revoke(7)
    apply.index += 1
    assert [e.kv.key for e in b.events] == sorted(ks)
    assert all(e.type == EventType.DELETE for e in b.events)
    assert rng(store, *ALL).count == 0 and store.lease_keys(7) == []


def test_compaction_and_hash_with_long_keys(store, apply):
    k = P + b"c" * 50
    for i in range(5):
        apply.put(k, b"%d" % i)
    apply.delete(k)
    apply.put(P + b"d" * 50, b"x")
    apply("compact", CompactionRequest(5))
    before = store.hash_kv(6)      # the hash does not depend on how far removal has got
    store.run_compaction()
    assert store.hash_kv(6) == before
    assert rng(store, k, revision=5).kvs[0].value == b"3"
    apply("compact", CompactionRequest(8))   # past the tombstone (7)
    store.run_compaction()
    with store.view() as v:
        assert not v.tx.get(stored(k), db=v.dbs.key)   # the tombstoned key is gone


def _model_range(model: dict, start: bytes, end: bytes | None) -> list[bytes]:
    if end is None:
        return sorted(model) if start == b"" else [start] if start in model else []
    return sorted(k for k in model if start <= k and (end == b"\0" or k < end))


def test_random_workload_matches_a_model(tmp_path):
    """Seeded: puts and deletes over keys crowded around the stored-form boundaries, every
    range (current and historical, limits, counts) checked against a dict model."""
    rnd = random.Random(20261122)
    pool = [P[:494], P, P + b"\x00", P + b"a", b"a", b"z" * 600, b"q" * 511, b"q" * 510]
    for _ in range(40):
        tail = bytes(rnd.choice(b"\x00ab\xff") for _ in range(rnd.choice((1, 15, 16, 17, 40))))
        pool.append(P + tail)
    bounds = pool + [P + b"a" * 17, P + b"b", P[:300], b"\0", b""]
    s = open_store(str(tmp_path / "db"))
    try:
        ap = Applier(s)
        history = {1: {}}
        model: dict[bytes, bytes] = {}
        for i in range(300):
            if rnd.random() < 0.75:
                k = rnd.choice(pool)
                model[k] = b"v%d" % i
                ap.put(k, model[k])
            else:
                lo, hi = sorted((rnd.choice(pool), rnd.choice(pool)))
                gone = [k for k in model if lo <= k < hi]
                ap.delete(lo, hi)
                for k in gone:
                    del model[k]
            history[s.current_revision()] = dict(model)
        revs = sorted(history)
        for _ in range(400):
            start = rnd.choice(bounds)
            end = rnd.choice(bounds) or None     # None: the single key `start`
            if start == b"":
                start, end = b"\0", b"\0"
            rev = rnd.choice(revs[-40:])
            limit = rnd.choice((0, 0, 1, 3))
            m = history[rev]
            want = _model_range(m, start, end)
            want = [] if end not in (None, b"\0") and start >= end else want
            r = s.range(RangeRequest(start, end or b"", revision=rev, limit=limit))
            assert keys(r) == want[:limit or None], (start, end, rev)
            assert [kv.value for kv in r.kvs] == [m[k] for k in want[:limit or None]]
            assert r.count == len(want) and r.more == (0 < limit < len(want))
            c = s.range(RangeRequest(start, end or b"", revision=rev, count_only=True))
            assert c.count == len(want)
    finally:
        s.close()


def _write_as_v1(s, ap: Applier, pairs, lease: int, first_rev: int) -> None:
    """Write ``pairs`` as schema 1 did (every key stored as itself), one revision each from
    ``first_rev``, attached to ``lease``, and stamp the store as schema 1."""
    with s.batch(ap.index + 1) as b:
        txn, dbs = b.tx, b.dbs
        for rev, (k, v) in enumerate(pairs, start=first_rev):
            rk = schema.REV.pack(rev, 0)
            txn.put(rk, schema.encode_change(k, v, rev, 1, lease), db=dbs.rev)
            txn.put(k, rk + schema.PUT_SUFFIX, db=dbs.key, dupdata=True)
            txn.put(k, schema.LATEST.pack(rev, rev, 1, lease) + v, db=dbs.latest)
            txn.put(schema.LEASE_ID.pack(lease), k, db=dbs.lease_keys, dupdata=True)
        schema.meta_put(txn, dbs, schema.M_SCHEMA_VERSION, 1)
        b.rev = first_rev + len(pairs) - 1
    ap.index += 1


def test_version_1_store_is_upgraded(tmp_path):
    """A 511-byte key was stored as itself by schema 1; opening moves it to its hashed form."""
    path = str(tmp_path / "db")
    s = open_store(path)
    ap = Applier(s)
    ap("lease_grant", 9, 60)
    ap.put(b"keep", b"k")
    old = b"o" * 511
    _write_as_v1(s, ap, [(old, b"ov")], lease=9, first_rev=3)
    s.close()
    s = open_store(path)
    try:
        assert s.get(old) == KeyValue(old, 3, 3, 1, b"ov", 9)
        assert keys(rng(s, *ALL)) == [b"keep", old]
        assert s.lease_keys(9) == [old]
        with s.view() as v:
            assert v.tx.get(old, db=v.dbs.latest) is None
            assert schema.meta_get(v.tx, v.dbs, schema.M_SCHEMA_VERSION) == 2
        ap = Applier(s)
        ap.put(old, b"nv")
        assert s.get(old).version == 2 and s.get(old).create_revision == 3
    finally:
        s.close()


def test_put_request_with_long_key_in_txn(store, apply):
    from tests.unit.mvcc_util import op_put, op_range
    k = P + b"t" * 100
    r = apply.txn(success=[op_put(k, b"v"), op_range(P, P + b"\xff")])
    assert r.succeeded and r.responses[1].response_range.kvs[0].key == k
    assert store.get(k).value == b"v"
    assert apply("put", PutRequest(k, ignore_value=True)).header.revision == 3


def test_upgrade_when_one_v1_key_is_another_ones_hashed_form(tmp_path):
    """Schema 1 took any 511-byte key as is, so a client could write A and B = stored(A); the
    upgrade must not move A onto B before B has moved away (found in review)."""
    path = str(tmp_path / "db")
    s = open_store(path)
    ap = Applier(s)
    ap("lease_grant", 5, 60)
    a = b"\x00" * 511
    b_ = stored(a)
    assert a < b_
    _write_as_v1(s, ap, [(a, b"va"), (b_, b"vb")], lease=5, first_rev=2)
    s.close()
    s = open_store(path)
    try:
        assert s.get(a) == KeyValue(a, 2, 2, 1, b"va", 5)
        assert s.get(b_) == KeyValue(b_, 3, 3, 1, b"vb", 5)
        assert [kv.value for kv in rng(s, *ALL).kvs] == [b"va", b"vb"]
        assert rng(s, b_, revision=2).kvs == ()       # histories stay apart
        assert s.lease_keys(5) == [a, b_]
    finally:
        s.close()
