"""Compaction: checks, what survives, bounded steps, crash resume, HashKV; a model check."""
import random

import pytest

from petcd.common.errors import ErrCompacted, ErrFutureRev, EtcdError
from petcd.common.kv import CompactionRequest, EventType, KeyValue, RangeRequest
from tests.unit.mvcc_util import Applier, apply, open_store, rng, store  # noqa: F401


def rows(store) -> int:
    with store.view() as v:
        return v.tx.stat(v.dbs.rev)["entries"]


def index_keys(store) -> list[bytes]:
    with store.view() as v:
        return list(v.tx.cursor(db=v.dbs.key).iternext_nodup())


def compact_err(apply, rev):
    with pytest.raises(EtcdError) as ei:
        apply("compact", CompactionRequest(rev))
    return ei.value


def test_compact_revision_checks(store, apply):
    apply.put(b"a", b"1")
    apply.put(b"a", b"2")                                   # current 3
    assert compact_err(apply, 4) == ErrFutureRev
    # etcd starts at compact revision -1: Compact(0) once is fine (recorded on etcd 3.4.23),
    # and then 0 is the compact revision.
    apply("compact", CompactionRequest(0))
    assert compact_err(apply, 0) == ErrCompacted
    r = apply("compact", CompactionRequest(2, physical=True))
    assert r.header.revision == 3 and store.current_revision() == 3   # no bump
    assert store.compact_revision() == 2 and store.compaction_pending
    assert compact_err(apply, 2) == ErrCompacted            # repeating the same value
    assert compact_err(apply, 1) == ErrCompacted
    apply("compact", CompactionRequest(3))                  # == current is fine
    assert store.compact_revision() == 3


def test_compaction_keeps_newest_at_or_below_and_drops_ended_generations(store, apply):
    apply.put(b"a", b"1")        # 2
    apply.put(b"a", b"2")        # 3
    apply.put(b"b", b"1")        # 4
    apply.delete(b"b")           # 5
    apply.put(b"c", b"1")        # 6
    apply.delete(b"c")           # 7
    apply.put(b"c", b"2")        # 8 (new generation)
    apply.put(b"a", b"3")        # 9
    before = {r: rng(store, b"\0", b"\0", revision=r) for r in range(7, 10)}
    assert rows(store) == 8
    apply("compact", CompactionRequest(7))
    assert store.run_compaction() >= 1 and not store.compaction_pending
    assert store.finished_compact_revision() == 7
    # Left: a@3 (newest <= 7 of a live key), c's tombstone @7 (at the compact revision),
    # c@8, a@9; gone: a@2, b (ended), c@6.
    assert rows(store) == 4
    assert index_keys(store) == [b"a", b"c"]
    for r, resp in before.items():
        assert rng(store, b"\0", b"\0", revision=r) == resp
    assert rng(store, b"a", revision=7).kvs == (KeyValue(b"a", 2, 3, 2, b"2", 0),)
    with pytest.raises(EtcdError):
        rng(store, b"a", revision=6)


def test_tombstone_at_the_compact_revision_stays_until_a_later_compaction(store, apply):
    """A watch from the compact revision must see a delete made at it (etcd #18089/#18274;
    etcd 3.4.23 itself drops it)."""
    apply.put(b"a", b"1")        # 2
    apply.delete(b"a")           # 3
    apply.put(b"b", b"1")        # 4
    apply("compact", CompactionRequest(3))
    store.run_compaction()
    assert rows(store) == 2 and index_keys(store) == [b"a", b"b"]
    assert rng(store, b"a", revision=3).kvs == ()
    with store.view() as v:
        assert [(e.type, e.kv.key, e.kv.mod_revision) for e in v.events(3, 3)] == \
            [(EventType.DELETE, b"a", 3)]
    apply("compact", CompactionRequest(4))
    store.run_compaction()
    assert rows(store) == 1 and index_keys(store) == [b"b"]


def test_bounded_steps_interleave_with_writes_and_a_second_compaction(store, apply):
    for i in range(30):
        apply.put(b"k%02d" % (i % 10), b"v%d" % i)          # revisions 2..31
    apply("compact", CompactionRequest(12))
    expect = {r: rng(store, b"\0", b"\0", revision=r).kvs for r in range(20, 32)}
    assert store.compact_step(batch_limit=4) is True
    apply.put(b"new", b"x")                                   # 32, during compaction
    assert store.compact_step(batch_limit=4) is True
    apply("compact", CompactionRequest(20))                  # raises the bound mid-way
    steps = 0
    while store.compact_step(batch_limit=4):
        steps += 1
        assert rng(store, b"\0", b"\0", revision=25).kvs == expect[25]
    assert steps >= 2 and store.finished_compact_revision() == 20
    for r in range(20, 32):
        assert rng(store, b"\0", b"\0", revision=r).kvs == expect[r]
    # 10 keys' newest <= 20 (revisions 11..20) + 11 later puts.
    assert rows(store) == 10 + 11 + 1
    assert store.compact_step() is False


def test_compaction_resumes_after_a_crash(tmp_path):
    path = str(tmp_path / "db")
    s = open_store(path)
    apply = Applier(s)
    for i in range(40):
        apply.put(b"k%d" % (i % 4), b"v")
    apply("compact", CompactionRequest(30))
    assert s.compact_step(batch_limit=5)
    s.close()                                         # "crash" between steps
    s = open_store(path)
    assert s.compaction_pending and s.compact_revision() == 30
    assert s.finished_compact_revision() == 0
    s.run_compaction(batch_limit=5)
    assert rows(s) == 4 + 11
    s.close()
    s = open_store(path)
    assert not s.compaction_pending and s.finished_compact_revision() == 30
    s.close()


def test_hash_kv(tmp_path):
    stores = [open_store(str(tmp_path / n)) for n in ("a", "b")]
    for s in stores:
        apply = Applier(s)
        for i in range(20):
            apply.put(b"k%d" % (i % 3), b"v%d" % i)
        apply.delete(b"k1")
        apply("compact", CompactionRequest(15))
    a, b = stores
    h_before = a.hash_kv()
    assert h_before == b.hash_kv() and h_before[1:] == (22, 15)
    a.compact_step(batch_limit=3)                     # mid-way
    assert a.hash_kv() == h_before
    a.run_compaction()
    assert a.hash_kv() == h_before                    # physical progress is invisible
    assert a.hash_kv(18) == b.hash_kv(18) != h_before
    assert a.hash_kv(22) == h_before
    with pytest.raises(EtcdError) as ei:
        a.hash_kv(15)                                 # <= compact revision
    assert ei.value == ErrCompacted
    with pytest.raises(EtcdError) as ei:
        a.hash_kv(23)
    assert ei.value == ErrFutureRev
    Applier(b).put(b"k0", b"different")
    assert b.hash_kv()[0] != h_before[0]
    for s in stores:
        s.close()


def test_model_random_history(tmp_path):
    """Random puts/deletes/txns/compactions against a plain-Python model of etcd's MVCC."""
    rnd = random.Random(1234)
    s = open_store(str(tmp_path / "db"))
    apply = Applier(s)
    history: dict[bytes, list] = {}        # key -> [(rev, KeyValue | None)]
    rev, compacted = 1, 0
    names = [b"k%d" % i for i in range(12)]

    def model_at(r):
        out = []
        for key in sorted(history):
            alive = [kv for (m, kv) in history[key] if m <= r]
            if alive and alive[-1] is not None:
                out.append(alive[-1])
        return out

    def current(key):
        h = history.get(key)
        return h[-1][1] if h else None

    for step in range(400):
        x = rnd.random()
        if x < 0.6:
            key, value = rnd.choice(names), b"v%d" % step
            rev += 1
            old = current(key)
            kv = KeyValue(key, old.create_revision if old else rev, rev,
                          old.version + 1 if old else 1, value, 0)
            history.setdefault(key, []).append((rev, kv))
            apply.put(key, value)
        elif x < 0.85:
            lo, hi = sorted(rnd.sample(names, 2))
            victims = [k for k in names if lo <= k < hi and current(k) is not None]
            if victims:
                rev += 1
                for k in victims:
                    history[k].append((rev, None))
            assert apply.delete(lo, hi).deleted == len(victims)
        elif x < 0.95 and rev > compacted + 1:
            target = rnd.randint(compacted + 1, rev)
            apply("compact", CompactionRequest(target))
            compacted = target
        else:
            s.compact_step(batch_limit=rnd.randint(1, 20))
        if step % 10 == 0:
            for r in {compacted or 1, rev, rnd.randint(max(compacted, 1), rev)}:
                got = s.range(RangeRequest(b"\0", b"\0", revision=r))
                assert list(got.kvs) == model_at(r), (step, r)
                assert got.count == len(model_at(r))
    s.run_compaction()
    for r in range(max(compacted, 1), rev + 1):
        assert list(rng(s, b"\0", b"\0", revision=r).kvs) == model_at(r)
    s.close()
