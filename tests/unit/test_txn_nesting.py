"""How deeply txns nest: the validator's levels, the native decoder's refusal of what can never
pass (etcd's error, no RecursionError), and the deepest txn that passes, carried by every
recursive walk of the api, the stages' codec and the applier."""
import sys

import msgpack
import pytest

from petcd.common import codec, errors
from petcd.common.kv import (DeleteRangeRequest, DeleteRangeResponse, KeyValue, PutRequest,
                             RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest,
                             TxnResponse)
from petcd.common.pipeline import ApplyBatch, ApplyResult, InternalRequest, Many
from petcd.common.types import Entry
from petcd.stages.api import nesting, validate
from petcd.stages.api.native import codec as native
from petcd.stages.apply.applier import Applier
from petcd.stages.apply.mvcc import MvccStore


def nested(levels: int, leaf: RequestOp | None) -> TxnRequest:
    """`levels` txns one in another, the innermost holding `leaf` (None: empty)."""
    t = TxnRequest(success=(leaf,) if leaf is not None else ())
    for _ in range(levels - 1):
        t = TxnRequest(success=(RequestOp(request_txn=t),))
    return t


PUT = RequestOp(request_put=PutRequest(key=b"k", value=b"v"))


def refusal(f, *args):
    try:
        f(*args)
    except errors.EtcdError as e:
        return e
    return None


@pytest.mark.parametrize("max_txn_ops", [1, 3, 128])
def test_the_validator_passes_exactly_max_txn_ops_plus_one_levels(max_txn_ops):
    # the innermost txn gets what its parents left: at level max_txn_ops + 1, nothing
    assert refusal(validate.check_txn, nested(max_txn_ops, PUT), max_txn_ops) is None
    assert refusal(validate.check_txn, nested(max_txn_ops + 1, None), max_txn_ops) is None
    for t in (nested(max_txn_ops + 1, PUT), nested(max_txn_ops + 2, None)):
        assert refusal(validate.check_txn, t, max_txn_ops) == errors.ErrTooManyOps


def test_no_txn_deeper_than_the_pipeline_carries_passes_whatever_max_txn_ops():
    deepest = nesting.PIPELINE_MAX_TXN_LEVELS
    nesting.allow_deep_txns(10_000)
    assert refusal(validate.check_txn, nested(deepest, PUT), 10_000) is None
    assert refusal(validate.check_txn, nested(deepest + 1, None), 10_000) == \
        errors.ErrTooManyOps


@pytest.mark.parametrize("max_txn_ops", [2, 128, 10_000])
def test_the_native_decoder_refuses_only_what_the_validator_would(max_txn_ops):
    nesting.allow_deep_txns(max_txn_ops)  # as the api process does at start
    depth = nesting.max_message_depth(max_txn_ops)
    levels = nesting.max_txn_levels(max_txn_ops)
    for n in range(levels - 1, levels + 3):
        for leaf in (PUT, None):
            t = nested(n, leaf)
            try:
                got = native.from_map(TxnRequest, native.to_map(t), max_depth=depth)
            except native.TooDeep as e:
                assert (e.code, e.message) == (errors.Code.INVALID_ARGUMENT,
                                               "etcdserver: too many operations in txn request")
                assert refusal(validate.check_txn, t, max_txn_ops) == errors.ErrTooManyOps
            else:
                assert got == t
    # the last level that can pass always decodes
    assert native.from_map(TxnRequest, native.to_map(nested(levels, PUT)), max_depth=depth)


def deep_doc(levels: int) -> dict:
    doc: dict = {}
    for _ in range(levels):
        doc = {"success": [{"request_txn": doc}]}
    return doc


def test_deep_nesting_is_refused_without_recursing_far():
    # Under Python's default limit, whatever the client nests (within msgpack's 1024 levels
    # from_map stops; past them unpack does).
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        frame = msgpack.packb(deep_doc(340))
        with pytest.raises(native.TooDeep):
            native.from_map(TxnRequest, native.unpack(frame), max_depth=11)
        with pytest.raises(native.TooDeep):
            native.unpack(b"\x81\xa1a" * 100_000 + b"\xc0")
    finally:
        sys.setrecursionlimit(old)


def test_nesting_of_messages_that_do_not_nest_is_not_limited_by_a_small_bound():
    # max_depth counts messages, and a put is three deep in the smallest txn
    t = TxnRequest(success=(PUT,))
    assert native.from_map(TxnRequest, native.to_map(t),
                           max_depth=nesting.max_message_depth(1)) == t


def response_of(levels: int) -> TxnResponse:
    kv = KeyValue(key=b"k", create_revision=2, mod_revision=3, version=1, value=b"v")
    leaf = ResponseOp(response_range=RangeResponse(header=ResponseHeader(1, 2, 3, 4),
                                                   kvs=(kv,), count=1))
    r = TxnResponse(header=ResponseHeader(1, 2, 3, 4), succeeded=True, responses=(leaf,))
    for _ in range(levels - 1):
        r = TxnResponse(header=ResponseHeader(1, 2, 3, 4), succeeded=True,
                        responses=(ResponseOp(response_txn=r),))
    return r


def test_the_stages_codec_carries_the_deepest_txn_and_its_result():
    deepest = nesting.PIPELINE_MAX_TXN_LEVELS
    leaf = RequestOp(request_delete_range=DeleteRangeRequest(key=b"k", prev_kv=True))
    req = InternalRequest(1, 7, nested(deepest, leaf))
    assert codec.decode(codec.encode(req)) == req
    result = ApplyResult(1, response_of(deepest))
    batch = Many((result, result))
    assert codec.decode(codec.encode(batch)) == batch
    # and the native answer of a read-only txn that deep (served by the api itself)
    nesting.allow_deep_txns(10_000)
    frame = native.encode_response(1, response_of(deepest))
    assert msgpack.unpackb(frame, raw=False)["id"] == 1


def test_the_applier_walks_the_deepest_txn_under_the_default_recursion_limit(tmp_path):
    deepest = nesting.PIPELINE_MAX_TXN_LEVELS
    applier = Applier(MvccStore.open(str(tmp_path)), 7)
    leaf = RequestOp(request_delete_range=DeleteRangeRequest(key=b"k", prev_kv=True))
    entries = (Entry(term=1, index=1, data=codec.encode(InternalRequest(1, 7, PutRequest(
                   key=b"k", value=b"v")))),
               Entry(term=1, index=2, data=codec.encode(InternalRequest(2, 7, nested(
                   deepest, leaf)))))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        results = applier.apply([ApplyBatch(entries, 1)])
    finally:
        sys.setrecursionlimit(old)
    r = results[1].response
    for _ in range(deepest - 1):
        r = r.responses[0].response_txn
    assert r.responses[0].response_delete_range.deleted == 1
    assert codec.decode(codec.encode(Many(tuple(results)))) == Many(tuple(results))
    assert isinstance(r.responses[0].response_delete_range, DeleteRangeResponse)
