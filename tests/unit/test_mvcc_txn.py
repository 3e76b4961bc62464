"""Txn: every compare target/result, missing keys and ranges, sub-revisions, read-your-writes,
nested txns, and pre-apply checks failing the whole txn."""
import pytest

from petcd.common.errors import (
    ErrCompacted, ErrFutureRev, ErrKeyNotFound, ErrLeaseNotFound, EtcdError,
)
from petcd.common.kv import (
    Compare, CompareResult, CompareTarget, CompactionRequest, EventType, KeyValue,
    ResponseHeader, TxnRequest,
)
from tests.unit.mvcc_util import (  # noqa: F401
    apply, keys, op_delete, op_put, op_range, op_txn, rng, store,
)

EQ, NE, GT, LT = (CompareResult.EQUAL, CompareResult.NOT_EQUAL, CompareResult.GREATER,
                  CompareResult.LESS)
VERSION, CREATE, MOD, VALUE, LEASE = (CompareTarget.VERSION, CompareTarget.CREATE,
                                      CompareTarget.MOD, CompareTarget.VALUE,
                                      CompareTarget.LEASE)


def cmp(key, target, result, range_end=b"", **union):
    return Compare(result=result, target=target, key=key, range_end=range_end, **union)


@pytest.fixture
def k(store, apply):
    """k: create 2, mod 4, version 3, value b"m", lease 9 (revision 4)."""
    apply("lease_grant", 9, 60)
    apply.put(b"k", b"a")
    apply.put(b"k", b"b")
    apply.put(b"k", b"m", lease=9)
    return store


def succeeded(apply, *compares) -> bool:
    return apply.txn(compares).succeeded


@pytest.mark.parametrize("target,field,equal,smaller,larger", [
    (VERSION, "version", 3, 2, 4),
    (CREATE, "create_revision", 2, 1, 3),
    (MOD, "mod_revision", 4, 3, 5),
    (VALUE, "value", b"m", b"a", b"z"),
    (LEASE, "lease", 9, 8, 10),
])
def test_compare_every_target_and_result(k, apply, target, field, equal, smaller, larger):
    def ok(result, v):
        return succeeded(apply, cmp(b"k", target, result, **{field: v}))
    assert ok(EQ, equal) and not ok(EQ, smaller) and not ok(EQ, larger)
    assert not ok(NE, equal) and ok(NE, smaller) and ok(NE, larger)
    assert ok(GT, smaller) and not ok(GT, equal) and not ok(GT, larger)
    assert ok(LT, larger) and not ok(LT, equal) and not ok(LT, smaller)
    assert k.current_revision() == 4       # compare-only txns never bump


def test_missing_key_compares_as_zero_but_value_always_false(k, apply):
    assert succeeded(apply, cmp(b"nope", CREATE, EQ, create_revision=0))   # "absent"
    assert succeeded(apply, cmp(b"nope", VERSION, EQ, version=0))
    assert succeeded(apply, cmp(b"nope", MOD, LT, mod_revision=1))
    assert succeeded(apply, cmp(b"nope", LEASE, EQ, lease=0))
    assert not succeeded(apply, cmp(b"nope", VERSION, GT, version=0))
    assert not succeeded(apply, cmp(b"nope", VALUE, EQ, value=b""))
    assert not succeeded(apply, cmp(b"nope", VALUE, NE, value=b"x"))
    assert not succeeded(apply, cmp(b"nope", VALUE, LT, value=b"x"))


def test_target_union_other_than_target_compares_as_zero(k, apply):
    # target VERSION but only create_revision given: version 3 is compared against 0.
    assert succeeded(apply, cmp(b"k", VERSION, GT, create_revision=100))
    assert not succeeded(apply, cmp(b"k", VERSION, EQ, create_revision=3))


def test_compares_are_anded(k, apply):
    assert succeeded(apply, cmp(b"k", VERSION, EQ, version=3), cmp(b"k", LEASE, EQ, lease=9))
    assert not succeeded(apply, cmp(b"k", VERSION, EQ, version=3),
                         cmp(b"k", LEASE, EQ, lease=8))


def test_range_compare_every_key_must_satisfy(k, apply):
    apply.put(b"k2", b"x")       # version 1
    apply.put(b"l", b"y")
    assert succeeded(apply, cmp(b"k", VERSION, GT, b"l", version=0))
    assert not succeeded(apply, cmp(b"k", VERSION, GT, b"l", version=1))   # k2 has 1
    assert succeeded(apply, cmp(b"k", VALUE, GT, b"\0", value=b"a"))       # m, x, y
    assert not succeeded(apply, cmp(b"k", VALUE, GT, b"\0", value=b"n"))
    # An empty range compares as a missing key.
    assert succeeded(apply, cmp(b"q", CREATE, EQ, b"r", create_revision=0))
    assert not succeeded(apply, cmp(b"q", VALUE, NE, b"r", value=b"z"))
    assert succeeded(apply, cmp(b"z", VERSION, EQ, b"a", version=0))       # inverted = empty


def test_transcript_txn_shares_one_revision(store, apply):
    # etcd-api.md 6: compare foo VERSION == 3; success put t1, range foo, delete b.
    for v in (b"1", b"2", b"3"):
        apply.put(b"foo", v)
    apply.put(b"b", b"x")
    rev = store.current_revision()
    r = apply.txn([cmp(b"foo", VERSION, EQ, version=3)],
                  [op_put(b"t1", b"x"), op_range(b"foo"), op_delete(b"b")])
    assert r.succeeded and r.header.revision == rev + 1
    put, rg, dl = r.responses
    assert put.response_put.header == ResponseHeader(revision=rev + 1)
    assert rg.response_range.header.revision == rev + 1 and rg.response_range.count == 1
    assert dl.response_delete_range.header.revision == rev + 1
    assert dl.response_delete_range.deleted == 1
    assert store.current_revision() == rev + 1


def test_sub_revisions_and_read_your_writes(store):
    with store.batch(1) as b:
        r = b.txn(TxnRequest(success=(
            op_range(b"a"),                       # before any write: header = begin
            op_delete(b"zz"),                     # no-op delete before writes: header = begin
            op_put(b"a", b"1"),
            op_put(b"b", b"2"),
            op_range(b"a", b"c"),                 # sees this txn's writes
            op_delete(b"b", prev_kv=True),
            op_range(b"\0", b"\0"),
            op_delete(b"zz"),                     # no-op delete after writes: header = begin+1
        )))
    hdrs = [next(x for x in (o.response_range, o.response_put, o.response_delete_range)
                 if x is not None).header.revision for o in r.responses]
    assert hdrs == [1, 1, 2, 2, 2, 2, 2, 2]
    assert r.responses[0].response_range.kvs == ()
    assert keys(r.responses[4].response_range) == [b"a", b"b"]
    assert r.responses[5].response_delete_range.prev_kvs == (KeyValue(b"b", 2, 2, 1, b"2", 0),)
    assert keys(r.responses[6].response_range) == [b"a"]
    assert r.header.revision == 2 and store.current_revision() == 2
    # One main revision, sub-revisions in op order: put a, put b, delete b.
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in b.events] == [
        (EventType.PUT, b"a", 2), (EventType.PUT, b"b", 2), (EventType.DELETE, b"b", 2)]
    assert store.events(2) == [e.__class__(e.type, e.kv, None) for e in b.events]


def test_range_at_pre_txn_revision_inside_a_write_txn(store, apply):
    apply.put(b"a", b"old")
    r = apply.txn(success=[op_put(b"a", b"new"), op_range(b"a", revision=2), op_range(b"a")])
    assert r.responses[1].response_range.kvs[0].value == b"old"
    assert r.responses[1].response_range.header.revision == 3
    assert r.responses[2].response_range.kvs[0].value == b"new"


def test_read_only_noop_and_empty_txns_do_not_bump(store, apply):
    apply.put(b"a", b"1")
    r = apply.txn(success=[op_range(b"a")])
    assert r.succeeded and r.header.revision == 2
    r = apply.txn(success=[op_delete(b"nothing"), op_delete(b"x", b"y")])
    assert r.header.revision == 2 and store.current_revision() == 2
    r = apply.txn()
    assert r.succeeded and r.responses == () and r.header.revision == 2


def test_failure_branch(k, apply):
    r = apply.txn([cmp(b"k", VALUE, EQ, value=b"other")],
                  [op_put(b"s", b"1")], [op_put(b"f", b"1"), op_range(b"k")])
    assert not r.succeeded and len(r.responses) == 2
    assert rng(k, b"s").kvs == () and rng(k, b"f").kvs[0].mod_revision == 5
    assert r.responses[1].response_range.kvs[0].value == b"m"


def test_nested_txn_compares_see_the_state_before_the_outer_txn(store, apply):
    r = apply.txn(success=[
        op_put(b"k", b"v1"),
        op_txn([cmp(b"k", VALUE, EQ, value=b"v1")],      # k is missing before the txn
               [op_put(b"inner_s", b"1")], [op_put(b"inner_f", b"1"), op_range(b"k")]),
        op_put(b"after", b"1"),
    ])
    assert r.succeeded and r.header.revision == 2
    nested = r.responses[1].response_txn
    assert nested.header == ResponseHeader()          # a nested txn's header is empty
    assert not nested.succeeded
    assert nested.responses[0].response_put.header.revision == 2
    assert nested.responses[1].response_range.kvs[0].value == b"v1"   # but ops see writes
    assert keys(rng(store, b"\0", b"\0")) == [b"after", b"inner_f", b"k"]


def test_nested_txn_two_levels_and_branch_paths(store, apply):
    apply.put(b"x", b"1")
    inner2 = op_txn([cmp(b"x", VERSION, EQ, version=1)], [op_put(b"deep", b"d")])
    inner1 = op_txn([cmp(b"x", VERSION, EQ, version=9)], [op_put(b"no", b"n")],
                    [inner2, op_put(b"mid", b"m")])
    r = apply.txn(success=[inner1, op_txn(success=[op_put(b"second", b"s")])])
    n1 = r.responses[0].response_txn
    assert not n1.succeeded and n1.responses[0].response_txn.succeeded
    assert r.responses[1].response_txn.succeeded
    assert keys(rng(store, b"\0", b"\0")) == [b"deep", b"mid", b"second", b"x"]
    assert store.current_revision() == 3


def txn_fails(store, apply, err, **kw):
    before = (store.current_revision(), rng(store, b"\0", b"\0"))
    with pytest.raises(EtcdError) as ei:
        apply.txn(**kw)
    assert ei.value == err
    assert (store.current_revision(), rng(store, b"\0", b"\0")) == before


def test_prechecks_fail_the_whole_txn(k, apply):
    txn_fails(k, apply, ErrLeaseNotFound,
              success=[op_put(b"a", b"1"), op_put(b"b", b"2", lease=12345)])
    txn_fails(k, apply, ErrKeyNotFound,
              success=[op_put(b"a", b"1"), op_put(b"missing", ignore_value=True)])
    txn_fails(k, apply, ErrKeyNotFound,
              success=[op_delete(b"k"), op_put(b"missing", ignore_lease=True)])
    txn_fails(k, apply, ErrFutureRev, success=[op_put(b"a", b"1"), op_range(b"k", revision=5)])
    # Nested on the taken path.
    txn_fails(k, apply, ErrLeaseNotFound,
              success=[op_put(b"a", b"1"), op_txn(success=[op_put(b"c", lease=3)])])
    # Puts are checked before ranges.
    txn_fails(k, apply, ErrLeaseNotFound,
              success=[op_range(b"k", revision=99), op_put(b"c", lease=3)])
    apply("compact", CompactionRequest(3))
    txn_fails(k, apply, ErrCompacted, success=[op_put(b"a", b"1"), op_range(b"k", revision=2)])
    # The failing ops sit on the branch not taken: fine.
    r = apply.txn([cmp(b"k", VERSION, EQ, version=3)], [op_put(b"ok", b"1")],
                  [op_put(b"bad", lease=3), op_range(b"k", revision=99)])
    assert r.succeeded and rng(k, b"ok").count == 1
    # ignore_value on an existing key works in a txn.
    apply.txn(success=[op_put(b"k", ignore_value=True, ignore_lease=True)])
    assert rng(k, b"k").kvs[0] == KeyValue(b"k", 2, 6, 4, b"m", 9)


def test_read_only_txn_range_checks(store, apply):
    apply.put(b"a", b"1")
    with pytest.raises(EtcdError) as ei:
        apply.txn(success=[op_range(b"a", revision=3)])
    assert ei.value == ErrFutureRev
    # revision == current before the txn is fine.
    assert apply.txn(success=[op_range(b"a", revision=2)]).responses[0].response_range.count == 1


def test_negative_range_revision_in_txn_follows_etcd_first_rev(store, apply):
    # etcd checkRange compares against compactMainRev, -1 on a never-compacted store.
    apply.put(b"a", b"1")
    assert apply.txn(success=[op_range(b"a", revision=-1)]).responses[0].response_range.count
    with pytest.raises(EtcdError):
        apply.txn(success=[op_range(b"a", revision=-2)])


def test_txn_lease_attach_and_detach(k, apply):
    apply("lease_grant", 10, 60)
    apply.txn(success=[op_put(b"k", b"n", lease=10), op_put(b"j", b"1", lease=10)])
    assert k.lease_keys(9) == [] and k.lease_keys(10) == [b"j", b"k"]
    apply.txn(success=[op_delete(b"j")])
    assert k.lease_keys(10) == [b"k"]
