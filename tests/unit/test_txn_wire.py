"""TxnRequests off the gRPC wire at any depth (stages/api/grpc/txn_wire.py): Go's decoder's
texts for malformed messages, the cut below the deepest txn that can pass, and the check's
answer on a cut txn, which must be the answer on the whole one."""
from __future__ import annotations

import random

import pytest

from petcd.common import errors, kv
from petcd.common.proto import convert, rpc_pb2 as pb
from petcd.stages.api import nesting, validate
from petcd.stages.api.grpc import txn_wire
from tests.conformance.record_limits import LEAF_CUT_SHORT, LEAF_PUT_WITHOUT_KEY, nested_txn

to_kv = convert.decoder(kv.TxnRequest, pb.TxnRequest.DESCRIPTOR)


def levels_of(txn: pb.TxnRequest) -> int:
    n = 1
    while txn.success and txn.success[0].WhichOneof("request") == "request_txn":
        txn = txn.success[0].request_txn
        n += 1
    return n


def answer(txn: pb.TxnRequest, max_txn_ops: int):
    try:
        validate.check_txn(to_kv(txn), max_txn_ops)
    except errors.EtcdError as e:
        return e.message
    return None


def test_a_shallow_txn_is_upbs_own_decoding():
    t = pb.TxnRequest(compare=[pb.Compare(key=b"a", value=b"1")],
                      success=[pb.RequestOp(request_put=pb.PutRequest(key=b"b", value=b"2"))],
                      failure=[pb.RequestOp(request_range=pb.RangeRequest(key=b"c"))])
    got, cut = txn_wire.decode(t.SerializeToString(), 128)
    assert got == t and not cut


@pytest.mark.parametrize("max_txn_ops", [128, 1000])  # 1000: the 200 levels the stages carry
def test_deep_chains_decode_whole_up_to_the_deepest_that_can_pass(max_txn_ops):
    nesting.allow_deep_txns(max_txn_ops)  # as the api worker does
    deepest = nesting.max_txn_levels(max_txn_ops)
    got, cut = txn_wire.decode(nested_txn(deepest), max_txn_ops)
    assert levels_of(got) == deepest and not cut
    assert answer(got, max_txn_ops) is None  # etcd passes it too
    got, cut = txn_wire.decode(nested_txn(deepest + 1), max_txn_ops)
    assert cut and levels_of(got) == deepest + 1
    assert answer(got, max_txn_ops) == errors.ErrTooManyOps.message


def test_a_hundred_thousand_levels_are_cut_without_recursion():
    got, cut = txn_wire.decode(nested_txn(100_000), 128)
    assert cut and levels_of(got) == 130
    assert answer(got, 128) == errors.ErrTooManyOps.message


def test_what_the_cut_drops_is_still_checked_as_go_decodes_it():
    with pytest.raises(txn_wire.WireError, match="^unexpected EOF$"):
        txn_wire.decode(nested_txn(1000, LEAF_CUT_SHORT), 128)
    # a good leaf below the cut is dropped without a word; a bad one (PutRequest without a
    # key) is the check's business, which never reaches it
    got, cut = txn_wire.decode(nested_txn(1000, LEAF_PUT_WITHOUT_KEY), 128)
    assert cut and answer(got, 128) == errors.ErrTooManyOps.message


def _txn_bytes(fields: list[tuple[int, bytes]]) -> bytes:
    out = b""
    for field, payload in fields:
        tag = txn_wire.encode_varint(field << 3 | 2)
        out += tag + txn_wire.encode_varint(len(payload)) + payload
    return out


@pytest.mark.parametrize("data, text", [
    (b"\x12", "unexpected EOF"),                               # a tag and nothing more
    (b"\x12\x05\x22", "unexpected EOF"),                       # a length past the end
    (b"\x12" + b"\xff" * 9 + b"\x01", "proto: negative length found during unmarshaling"),
    (b"\x12" + b"\xff" * 10 + b"\x01", "proto: integer overflow"),
    (b"\x10\x01", "proto: wrong wireType = 0 for field Success"),
    (b"\x12\x02\x20\x01", "proto: wrong wireType = 0 for field RequestTxn"),
    (b"\x00", "proto: TxnRequest: illegal tag 0 (wire type 0)"),
    (b"\x12\x01\x00", "proto: RequestOp: illegal tag 0 (wire type 0)"),
    (b"\x0c", "proto: TxnRequest: wiretype end group for non-group"),
    (b"\x4e", "proto: illegal wireType 6"),                    # field 9, wire type 6
    (b"\x49\x01\x02", "unexpected EOF"),                       # field 9, fixed64 cut short
])
def test_malformed_txns_get_gos_texts(data, text):
    with pytest.raises(txn_wire.WireError) as e:
        txn_wire.scan(data, 130)
    assert str(e.value) == text


def test_unknown_fields_are_skipped_and_kept_groups_included():
    op = pb.RequestOp(request_put=pb.PutRequest(key=b"k", value=b"v")).SerializeToString()
    # field 9 varint, field 10 fixed32, field 11 a group holding a varint, then the op
    data = b"\x48\x07" + b"\x55" + b"\x00" * 4 + b"\x5b\x08\x01\x5c" + _txn_bytes([(2, op)])
    kept, cut = txn_wire.scan(data, 130)
    assert kept == data and not cut
    assert pb.TxnRequest.FromString(kept).success[0].request_put.key == b"k"


def test_the_cut_keeps_everything_but_what_lies_in_the_emptied_txns():
    put = pb.RequestOp(request_put=pb.PutRequest(key=b"k", value=b"v")).SerializeToString()
    deep = nested_txn(4, _txn_bytes([(2, put)]))  # levels 1-4, a put in the 4th
    data = _txn_bytes([(2, put), (3, _txn_bytes([(4, deep)]))])  # level 1: a put, a txn
    kept, cut = txn_wire.scan(data, 3)
    assert cut
    got = pb.TxnRequest.FromString(kept)
    inner = got.failure[0].request_txn              # level 2
    assert got.success[0].request_put.key == b"k"
    assert inner.success[0].request_txn == pb.TxnRequest()  # level 3, emptied


def _random_txn(rng: random.Random, level: int, max_levels: int) -> pb.TxnRequest:
    t = pb.TxnRequest()
    for _ in range(rng.choice((0, 1, 1, 2))):
        t.compare.add(key=rng.choice((b"", b"a", b"b")))
    for branch in (t.success, t.failure):
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            kind = rng.choice(("put", "range", "txn", "txn", "empty"))
            if kind == "txn" and level < max_levels:
                branch.add(request_txn=_random_txn(rng, level + 1, max_levels))
            elif kind == "put":
                branch.add(request_put=pb.PutRequest(key=rng.choice((b"", b"k", b"j"))))
            elif kind == "range":
                branch.add(request_range=pb.RangeRequest(key=rng.choice((b"", b"k"))))
            else:
                branch.add()
    return t


@pytest.mark.parametrize("max_txn_ops", [1, 2, 3, 4])
def test_the_check_answers_a_cut_txn_as_the_whole_one(max_txn_ops):
    rng = random.Random(max_txn_ops)
    cut_level = nesting.max_txn_levels(max_txn_ops) + 1
    cuts = 0
    for _ in range(400):
        whole = _random_txn(rng, 1, cut_level + 3)
        kept, cut = txn_wire.scan(whole.SerializeToString(), cut_level)
        cuts += cut
        assert answer(pb.TxnRequest.FromString(kept), max_txn_ops) == answer(whole, max_txn_ops)
    assert cuts > 20  # the cut was exercised


def test_a_deep_txns_answer_is_built_within_deep_messages():
    enc = convert.encoder(kv.TxnResponse, pb.TxnResponse)
    resp = kv.TxnResponse(header=kv.ResponseHeader(revision=1), succeeded=True)
    for _ in range(129):
        resp = kv.TxnResponse(header=kv.ResponseHeader(revision=1), succeeded=True,
                              responses=(kv.ResponseOp(response_txn=resp),))
    with pytest.raises(Exception):
        enc(resp)  # upb copies sub-messages through its decoder, with its depth limit
    with txn_wire.deep_messages():
        assert enc(resp).ByteSize() > 0
    with pytest.raises(Exception):
        enc(resp)  # the limit is back
