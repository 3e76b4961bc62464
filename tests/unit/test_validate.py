"""etcd's pre-raft request checks (v3rpc/key.go, the raft request size), and a side-by-side
check of decode + validate against the answers recorded from a real etcd 3.4.23."""
from __future__ import annotations

import pytest

from petcd.common import errors
from petcd.common.errors import Code, EtcdError
from petcd.common.kv import (Compare, CompactionRequest, DeleteRangeRequest, PutRequest,
                             RangeRequest, RequestOp, TxnRequest)
from petcd.stages.api.http import gateway_json as g
from petcd.stages.api import validate as v
from tests.conformance import recordings


def fails(fn, *args, **kw) -> EtcdError:
    with pytest.raises(EtcdError) as ei:
        fn(*args, **kw)
    return ei.value


def put(key: bytes, **kw) -> RequestOp:
    return RequestOp(request_put=PutRequest(key=key, **kw))


def rng(key: bytes, **kw) -> RequestOp:
    return RequestOp(request_range=RangeRequest(key=key, **kw))


def dele(key: bytes, range_end: bytes = b"") -> RequestOp:
    return RequestOp(request_delete_range=DeleteRangeRequest(key=key, range_end=range_end))


def sub(success=(), failure=(), compare=()) -> RequestOp:
    return RequestOp(request_txn=TxnRequest(compare=tuple(compare), success=tuple(success),
                                            failure=tuple(failure)))


def txn(success=(), failure=(), compare=()) -> TxnRequest:
    return TxnRequest(compare=tuple(compare), success=tuple(success), failure=tuple(failure))


def test_empty_keys():
    for req in (RangeRequest(), PutRequest(value=b"v"), DeleteRangeRequest(range_end=b"z")):
        assert fails(v.check_request, req) == errors.ErrEmptyKey
    for t in (txn(compare=[Compare()]), txn([put(b"")]), txn([rng(b"")]),
              txn(failure=[dele(b"")]), txn([sub([put(b"")])]),
              txn([sub(compare=[Compare(key=b"")])])):
        assert fails(v.check_txn, t) == errors.ErrEmptyKey
    v.check_request(CompactionRequest())  # compaction has no key check


def test_errors_raised_are_copies():
    e = fails(v.check_request, RangeRequest())
    assert e == errors.ErrEmptyKey and e is not errors.ErrEmptyKey


def test_put_flags():
    v.check_put_request(PutRequest(key=b"k", ignore_value=True, ignore_lease=True))
    assert fails(v.check_put_request, PutRequest(key=b"k", value=b"x", ignore_value=True)) \
        == errors.ErrValueProvided
    assert fails(v.check_put_request, PutRequest(key=b"k", lease=5, ignore_lease=True)) \
        == errors.ErrLeaseProvided
    # key first, then value, then lease
    assert fails(v.check_put_request, PutRequest(value=b"x", ignore_value=True)) == \
        errors.ErrEmptyKey
    assert fails(v.check_put_request, PutRequest(key=b"k", value=b"x", lease=1,
                                                 ignore_value=True, ignore_lease=True)) == \
        errors.ErrValueProvided
    assert fails(v.check_txn, txn([put(b"k", lease=1, ignore_lease=True)])) == \
        errors.ErrLeaseProvided


def test_empty_request_op_is_key_not_found():
    assert fails(v.check_txn, txn([RequestOp()])) == errors.ErrKeyNotFound
    assert fails(v.check_txn, txn(failure=[put(b"a"), RequestOp()])) == errors.ErrKeyNotFound
    assert fails(v.check_txn, txn([sub([RequestOp()])])) == errors.ErrKeyNotFound


def test_too_many_ops():
    many = [put(b"k%d" % i) for i in range(128)]
    v.check_txn(txn(many, many, [Compare(key=b"c")] * 128))
    for t in (txn(many + [put(b"x")]), txn(failure=many + [put(b"x")]),
              txn(compare=[Compare(key=b"c")] * 129)):
        assert fails(v.check_txn, t) == errors.ErrTooManyOps
    # custom bound
    assert fails(v.check_txn, txn(many[:3]), max_txn_ops=2) == errors.ErrTooManyOps
    v.check_txn(txn(many[:2]), max_txn_ops=2)


def test_nested_txns_get_the_remaining_budget():
    outer = [put(b"o%d" % i) for i in range(99)]  # + the nested op: 100, so 28 are left
    v.check_txn(txn(outer + [sub([put(b"n%d" % i) for i in range(28)])]))
    assert fails(v.check_txn, txn(outer + [sub([put(b"n%d" % i) for i in range(29)])])) == \
        errors.ErrTooManyOps
    # the budget is 128 minus the outer txn's max(len(compare), len(success), len(failure))
    assert fails(v.check_txn, txn([sub([put(b"a"), put(b"b")])],
                                  compare=[Compare(key=b"c")] * 127)) == errors.ErrTooManyOps


def test_check_order_op_count_then_keys_then_duplicates():
    dup = [put(b"a"), put(b"a")]
    assert fails(v.check_txn, txn(dup + [put(b"")])) == errors.ErrEmptyKey
    assert fails(v.check_txn, txn(dup, compare=[Compare()])) == errors.ErrEmptyKey
    assert fails(v.check_txn, txn(dup, failure=[RequestOp()])) == errors.ErrKeyNotFound
    assert fails(v.check_txn, txn([put(b"k%d" % i) for i in range(129)] + [put(b"")])) == \
        errors.ErrTooManyOps
    # compares before ops, success before failure
    assert fails(v.check_txn, txn([RequestOp()], compare=[Compare()])) == errors.ErrEmptyKey
    assert fails(v.check_txn, txn([RequestOp()], [put(b"")])) == errors.ErrKeyNotFound


@pytest.mark.parametrize("t", [
    txn([put(b"a"), put(b"a")]),
    txn([dele(b"a", b"c"), put(b"b")]),
    txn([put(b"b"), dele(b"a", b"c")]),
    txn([dele(b"a"), put(b"a")]),
    txn([sub([put(b"a")]), put(b"a")]),
    txn([sub([put(b"a")]), sub([put(b"a")])]),
    txn([sub([put(b"a")]), sub(failure=[put(b"a")])]),
    txn([sub([dele(b"a", b"c")]), put(b"b")]),
    txn([dele(b"a", b"c"), sub(failure=[put(b"b")])]),
    txn([sub([sub([put(b"d")])]), dele(b"d")]),
    txn([sub([dele(b"a", b"c")]), sub([put(b"b")])]),
    txn([sub([put(b"k")], [put(b"j")]), sub(failure=[put(b"k")])]),
    txn(failure=[put(b"a"), put(b"a")]),
])
def test_duplicate_keys(t):
    assert fails(v.check_txn, t) == errors.ErrDuplicateKey


@pytest.mark.parametrize("t", [
    txn([dele(b"a"), dele(b"a")]),
    txn([dele(b"a", b"c"), dele(b"b")]),
    txn([put(b"a")], [put(b"a")]),
    txn([sub([put(b"a")], [put(b"a")])]),
    txn([dele(b"a", b"c"), put(b"c")]),            # range_end is exclusive
    txn([dele(b"b", b"c"), put(b"a")]),
    txn([dele(b"a", b"\x00"), put(b"b")]),          # from-key delete: an empty interval here
    txn([rng(b"a"), put(b"a")]),
    txn([sub([dele(b"a")]), sub(failure=[dele(b"a")])]),
    txn([sub([put(b"a")]), sub(compare=[Compare(key=b"a")])]),
])
def test_allowed_overlaps(t):
    v.check_txn(t)


def test_check_intervals_returns_puts_and_deletes():
    puts, dels = v.check_intervals((put(b"p"), dele(b"a", b"b"), sub([put(b"q")], [dele(b"z")])))
    assert puts == {b"p", b"q"}
    assert sorted(dels) == [(b"a", b"b"), (b"z", b"")]


def test_message_size_is_the_protobuf_size():
    # the recorded gRPC error quotes the exact size: a 3-byte key and a 2,150,400-byte value
    assert v.message_size(PutRequest(key=b"big", value=b"x" * 2150400)) == 2150410
    assert v.message_size(RangeRequest()) == 0
    assert v.message_size(RangeRequest(key=b"a", limit=-1)) == 3 + 11
    assert v.message_size(CompactionRequest(revision=300, physical=True)) == 3 + 2
    assert v.message_size(TxnRequest(compare=(Compare(key=b"k", range_end=b"l",
                                                      target=1, create_revision=5),),
                                     success=(put(b"a"),))) == (2 + 3 + 2 + 4) + 2 + (3 + 2) + 2


def test_grpc_receive_limit():
    limit = v.DEFAULT_MAX_REQUEST_BYTES + 512 * 1024
    v.check_grpc_message_size(PutRequest(key=b"k", value=b"x" * (limit - 7)))  # exactly limit
    e = fails(v.check_grpc_message_size, PutRequest(key=b"k", value=b"x" * (limit - 6)))
    assert e == EtcdError(Code.RESOURCE_EXHAUSTED,
                          f"grpc: received message larger than max ({limit + 1} vs. {limit})")
    assert e.http_status == 429


def test_request_too_large():
    limit = v.DEFAULT_MAX_REQUEST_BYTES
    v.check_request_size(PutRequest(key=b"big", value=b"x" * (limit - 30)))
    assert fails(v.check_request_size, PutRequest(key=b"big", value=b"x" * (limit - 10))) == \
        errors.ErrRequestTooLarge
    assert fails(v.check_request_size, PutRequest(key=b"k", value=b"x" * 100),
                 max_request_bytes=100) == errors.ErrRequestTooLarge
    big = put(b"k", value=b"x" * limit)
    assert fails(v.check_request_size, txn([big])) == errors.ErrRequestTooLarge
    # reads are not proposed, so they are not measured
    v.check_request_size(RangeRequest(key=b"k" * limit))
    v.check_request_size(txn([rng(b"k" * limit)]))
    assert v.goes_through_raft(txn([rng(b"a")], [dele(b"a")]))
    assert not v.goes_through_raft(txn([rng(b"a")], [rng(b"b")]))
    assert v.goes_through_raft(txn([sub([rng(b"a")])]))


def test_validate_order():
    limit = v.DEFAULT_MAX_REQUEST_BYTES
    # the gRPC limit comes before key.go, which comes before the raft size
    assert fails(v.validate, PutRequest(value=b"x" * (limit + 600 * 1024))).code == \
        Code.RESOURCE_EXHAUSTED
    assert fails(v.validate, PutRequest(value=b"x" * (limit + 10))) == errors.ErrEmptyKey
    assert fails(v.validate, PutRequest(key=b"k", value=b"x" * (limit + 10))) == \
        errors.ErrRequestTooLarge
    v.validate(CompactionRequest(revision=5))


# --------------------------------------------------------------------------------------------
# side by side with the recorded etcd answers

# Errors etcd finds only when it applies the request (they need the store): not ours to raise.
APPLY_TIME = {errors.ErrCompacted, errors.ErrFutureRev, errors.ErrLeaseNotFound,
              errors.ErrKeyNotFound}


def _uses_ignore_flags(req) -> bool:
    if isinstance(req, PutRequest):
        return req.ignore_value or req.ignore_lease
    if isinstance(req, TxnRequest):
        return any(_uses_ignore_flags(x) for op in req.success + req.failure
                   for x in (op.request_put, op.request_txn) if x is not None)
    return False


def _decodable_steps():
    out = []
    for step in recordings.kv_steps():
        resp = step[3]
        if resp.get("closed"):
            continue
        rec = recordings.recorded_error(resp)
        if rec is not None and not rec[2].startswith(("etcdserver:", "grpc:")):
            continue  # a body the gateway could not read: test_gateway_json's side
        out.append(step)
    return out


STEPS = _decodable_steps()


def test_recordings_cover_validation_errors():
    seen = {recordings.recorded_error(s[3])[2] for s in STEPS if recordings.recorded_error(s[3])}
    for e in (errors.ErrEmptyKey, errors.ErrValueProvided, errors.ErrLeaseProvided,
              errors.ErrTooManyOps, errors.ErrDuplicateKey, errors.ErrKeyNotFound,
              errors.ErrRequestTooLarge):
        assert e.message in seen
    assert any(m.startswith("grpc: received message larger than max") for m in seen)


@pytest.mark.parametrize("step", STEPS, ids=recordings.step_id)
def test_validate_matches_recorded_etcd(step):
    """Our decode + validate raises exactly etcd's error (code, message, HTTP status) where etcd
    refused the request before raft, and lets through what etcd accepted or refused later."""
    resp, cls, body = step[3], step[5], step[6]
    rec = recordings.recorded_error(resp)
    req = g.decode(cls, body)
    try:
        v.validate(req)
    except EtcdError as e:
        assert (e.http_status, int(e.code), e.message) == rec
        return
    if rec is not None:
        err = EtcdError(Code(rec[1]), rec[2])
        assert err in APPLY_TIME, f"etcd refused before raft, we did not: {rec}"
        if err == errors.ErrKeyNotFound:
            assert _uses_ignore_flags(req)
