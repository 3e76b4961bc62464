"""Range: range_end rules, count/more/limit, filters, sorting, keys/count only, revisions."""
import pytest

from petcd.common.errors import ErrCompacted, ErrFutureRev, EtcdError
from petcd.common.kv import CompactionRequest, KeyValue, SortOrder, SortTarget
from tests.unit.mvcc_util import apply, keys, rng, store  # noqa: F401

ALL = (b"\0", b"\0")
ASC, DESC, NONE = SortOrder.ASCEND, SortOrder.DESCEND, SortOrder.NONE


@pytest.fixture
def four(store, apply):
    """foo@2, a@3, b@4, foo@5 (v2), c@6, b@7 (v2), b@8 (v3): 4 keys at revision 8."""
    apply.put(b"foo", b"bar")
    apply.put(b"a", b"zz")
    apply.put(b"b", b"m")
    apply.put(b"foo", b"bar2")
    apply.put(b"c", b"a")
    apply.put(b"b", b"m2")
    apply.put(b"b", b"m3")
    assert store.current_revision() == 8
    return store


def test_range_end_rules(four):
    assert keys(rng(four, b"b")) == [b"b"]                        # empty range_end: one key
    assert keys(rng(four, b"bb")) == []
    assert keys(rng(four, b"b", b"\0")) == [b"b", b"c", b"foo"]   # "\0": every key >= key
    assert keys(rng(four, *ALL)) == [b"a", b"b", b"c", b"foo"]
    assert keys(rng(four, b"a", b"c")) == [b"a", b"b"]            # [key, range_end)
    assert keys(rng(four, b"f", b"g")) == [b"foo"]                 # prefix
    inverted = rng(four, b"c", b"a")
    assert inverted.kvs == () and inverted.count == 0 and inverted.header.revision == 8
    assert rng(four, b"b", b"b").kvs == ()


def test_transcript_limit_descend_more_count(four):
    # etcd-api.md 6: all keys, limit 1, DESCEND by KEY -> foo, more, count 4.
    r = rng(four, *ALL, limit=1, sort_order=DESC, sort_target=SortTarget.KEY)
    assert r.kvs == (KeyValue(b"foo", 2, 5, 2, b"bar2", 0),)
    assert r.more is True and r.count == 4


def test_limit_and_more(four):
    r = rng(four, *ALL, limit=2)
    assert keys(r) == [b"a", b"b"] and r.more and r.count == 4
    r = rng(four, *ALL, limit=4)
    assert len(r.kvs) == 4 and not r.more and r.count == 4
    r = rng(four, *ALL, limit=5)
    assert len(r.kvs) == 4 and not r.more
    r = rng(four, b"b", b"\0", limit=1)
    assert keys(r) == [b"b"] and r.more and r.count == 3
    assert len(rng(four, *ALL, limit=-1).kvs) == 4    # <= 0 means unlimited


def test_count_ignores_filters(four):
    # etcd-api.md 1.1 [obs]: a filter returned 3 kvs while count said 4.
    r = rng(four, *ALL, min_mod_revision=5)
    assert keys(r) == [b"b", b"c", b"foo"] and r.count == 4 and not r.more
    r = rng(four, *ALL, max_mod_revision=5)                    # inclusive
    assert keys(r) == [b"a", b"foo"] and r.count == 4
    r = rng(four, *ALL, min_create_revision=3, max_create_revision=4)
    assert keys(r) == [b"a", b"b"] and r.count == 4
    r = rng(four, *ALL, min_mod_revision=5, limit=1)
    assert keys(r) == [b"b"] and r.more and r.count == 4
    r = rng(four, *ALL, max_create_revision=2)
    assert keys(r) == [b"foo"]


@pytest.mark.parametrize("target,order,expected", [
    (SortTarget.KEY, ASC, [b"a", b"b", b"c", b"foo"]),
    (SortTarget.KEY, DESC, [b"foo", b"c", b"b", b"a"]),
    (SortTarget.KEY, NONE, [b"a", b"b", b"c", b"foo"]),
    # versions: a=1 b=3 c=1 foo=2 -> ties keep key-ascending order (stable), also descending
    (SortTarget.VERSION, ASC, [b"a", b"c", b"foo", b"b"]),
    (SortTarget.VERSION, DESC, [b"b", b"foo", b"a", b"c"]),
    (SortTarget.VERSION, NONE, [b"a", b"c", b"foo", b"b"]),     # non-KEY + NONE -> ASCEND
    (SortTarget.CREATE, ASC, [b"foo", b"a", b"b", b"c"]),
    (SortTarget.CREATE, DESC, [b"c", b"b", b"a", b"foo"]),
    (SortTarget.MOD, ASC, [b"a", b"foo", b"c", b"b"]),
    (SortTarget.MOD, DESC, [b"b", b"c", b"foo", b"a"]),
    (SortTarget.VALUE, ASC, [b"c", b"foo", b"b", b"a"]),        # a < bar2 < m3 < zz
    (SortTarget.VALUE, DESC, [b"a", b"b", b"foo", b"c"]),
])
def test_sort(four, target, order, expected):
    r = rng(four, *ALL, sort_target=target, sort_order=order)
    assert keys(r) == expected and r.count == 4


def test_sort_then_limit(four):
    r = rng(four, *ALL, sort_target=SortTarget.MOD, sort_order=DESC, limit=2)
    assert keys(r) == [b"b", b"c"] and r.more and r.count == 4


def test_non_key_target_with_order_none_sorts_only_limit_plus_one(four):
    # etcd fetches limit+1 in key order when sort_order is NONE, then sorts those: with
    # limit 1 that is [a (create 3), b (create 4)] -> a, although foo has create 2.
    r = rng(four, *ALL, sort_target=SortTarget.CREATE, sort_order=NONE, limit=1)
    assert keys(r) == [b"a"] and r.more
    r = rng(four, *ALL, sort_target=SortTarget.CREATE, sort_order=ASC, limit=1)
    assert keys(r) == [b"foo"]


def test_keys_only(four):
    r = rng(four, *ALL, keys_only=True)
    assert [kv.value for kv in r.kvs] == [b""] * 4
    assert r.kvs[1] == KeyValue(b"b", 4, 8, 3, b"", 0)
    r = rng(four, *ALL, keys_only=True, sort_target=SortTarget.VALUE, sort_order=ASC)
    assert keys(r) == [b"c", b"foo", b"b", b"a"] and all(kv.value == b"" for kv in r.kvs)
    r = rng(four, *ALL, keys_only=True, revision=4)
    assert keys(r) == [b"a", b"b", b"foo"] and all(kv.value == b"" for kv in r.kvs)


def test_count_only(four):
    r = rng(four, *ALL, count_only=True)
    assert r.kvs == () and r.count == 4 and not r.more
    r = rng(four, *ALL, count_only=True, limit=1)
    assert r.kvs == () and r.count == 4 and not r.more
    assert rng(four, b"b", b"\0", count_only=True).count == 3
    assert rng(four, b"b", b"c", count_only=True).count == 1
    assert rng(four, b"b", count_only=True).count == 1
    assert rng(four, *ALL, count_only=True, revision=3).count == 2
    assert rng(four, *ALL, count_only=True, min_mod_revision=6).count == 4


def test_historical_reads(four, apply):
    apply.delete(b"a")                     # @9
    r = rng(four, *ALL, revision=4)
    assert r.kvs == (KeyValue(b"a", 3, 3, 1, b"zz", 0), KeyValue(b"b", 4, 4, 1, b"m", 0),
                     KeyValue(b"foo", 2, 2, 1, b"bar", 0))
    assert r.count == 3 and r.header.revision == 9      # header: current revision
    assert keys(rng(four, *ALL, revision=8)) == [b"a", b"b", b"c", b"foo"]
    assert keys(rng(four, *ALL, revision=9)) == [b"b", b"c", b"foo"]
    assert keys(rng(four, *ALL, revision=0)) == [b"b", b"c", b"foo"]
    assert keys(rng(four, *ALL, revision=-3)) == [b"b", b"c", b"foo"]   # <= 0: latest
    assert rng(four, b"b", revision=7).kvs == (KeyValue(b"b", 4, 7, 2, b"m2", 0),)
    assert rng(four, b"a", revision=9).kvs == ()
    assert rng(four, *ALL, revision=1).count == 0
    r = rng(four, *ALL, revision=8, limit=2, sort_order=DESC)
    assert keys(r) == [b"foo", b"c"] and r.more and r.count == 4
    r = rng(four, b"a", b"c", revision=6, limit=1)
    assert keys(r) == [b"a"] and r.more and r.count == 2


def test_future_and_compacted_revisions(four, apply):
    with pytest.raises(EtcdError) as ei:
        rng(four, b"a", revision=9)
    assert ei.value == ErrFutureRev and ei.value.http_status == 400
    apply("compact", CompactionRequest(5))
    with pytest.raises(EtcdError) as ei:
        rng(four, b"a", revision=4)
    assert ei.value == ErrCompacted
    r = rng(four, *ALL, revision=5)         # == compact revision is readable
    assert keys(r) == [b"a", b"b", b"foo"] and r.header.revision == 8
    four.run_compaction()
    assert rng(four, *ALL, revision=5) == r


def test_long_keys_in_requests(four):
    # Bounds longer than LMDB's key limit (511) against a store of short keys.
    long = b"b" + b"\xff" * 521
    assert rng(four, long).kvs == ()
    assert keys(rng(four, long, b"\0")) == [b"c", b"foo"]
    assert keys(rng(four, b"a" * 512, b"\0", revision=7)) == [b"b", b"c", b"foo"]
    exact = b"b" * 511
    assert keys(rng(four, b"b", exact + b"x")) == [b"b"]


def test_point_get(four):
    assert four.get(b"foo") == KeyValue(b"foo", 2, 5, 2, b"bar2", 0)
    assert four.get(b"nope") is None
    with four.view() as v:
        assert v.kv_at(b"foo", 3) == KeyValue(b"foo", 2, 2, 1, b"bar", 0)
        assert v.kv_at(b"foo", 1) is None


def test_single_key_range_options(four):
    # count is taken before the filters, as for any range.
    r = rng(four, b"a", min_mod_revision=5)
    assert r.kvs == () and r.count == 1 and not r.more
    assert rng(four, b"a", max_create_revision=3).kvs[0].key == b"a"
    r = rng(four, b"b", keys_only=True, limit=1, sort_order=DESC)
    assert r.kvs == (KeyValue(b"b", 4, 8, 3, b"", 0),) and not r.more
    r = rng(four, b"b", count_only=True)
    assert r.kvs == () and r.count == 1
    r = rng(four, b"b", revision=4, keys_only=True)
    assert r.kvs == (KeyValue(b"b", 4, 4, 1, b"", 0),) and r.header.revision == 8
    assert rng(four, b"b", revision=3).count == 0
