"""common/proto_size.py against protobuf itself: the sizes it computes from our dataclasses equal
the ByteSize() of the same messages built from etcd's .proto (common/proto/), over seeded random
messages. The hand-written sizes stay (they run on every write, where building a protobuf
message would cost more than the write's validation), and this is what keeps them true to the
one declaration of the schema."""
from __future__ import annotations

import random

import pytest

from petcd.common import kv, proto_size as ps
from petcd.common.proto import rpc_pb2 as pb
from petcd.common.proto.convert import encoder

_BYTES = [0, 1, 15, 127, 128, 300, 16384]
_INTS = [0, 1, 127, 128, 2 ** 20, 2 ** 40, -1]


def _b(rnd) -> bytes:
    return b"x" * rnd.choice(_BYTES)


def _i(rnd) -> int:
    return rnd.choice(_INTS)


def _range(rnd) -> kv.RangeRequest:
    return kv.RangeRequest(key=_b(rnd), range_end=_b(rnd), limit=_i(rnd), revision=_i(rnd),
                           sort_order=kv.SortOrder(rnd.randrange(3)),
                           sort_target=kv.SortTarget(rnd.randrange(5)),
                           serializable=rnd.random() < .5, keys_only=rnd.random() < .5,
                           count_only=rnd.random() < .5, min_mod_revision=_i(rnd),
                           max_mod_revision=_i(rnd), min_create_revision=_i(rnd),
                           max_create_revision=_i(rnd))


def _put(rnd) -> kv.PutRequest:
    return kv.PutRequest(key=_b(rnd), value=_b(rnd), lease=_i(rnd), prev_kv=rnd.random() < .5,
                         ignore_value=rnd.random() < .5, ignore_lease=rnd.random() < .5)


def _delete(rnd) -> kv.DeleteRangeRequest:
    return kv.DeleteRangeRequest(key=_b(rnd), range_end=_b(rnd), prev_kv=rnd.random() < .5)


def _compare(rnd) -> kv.Compare:
    target = kv.CompareTarget(rnd.randrange(5))
    union = {kv.CompareTarget.VERSION: "version", kv.CompareTarget.CREATE: "create_revision",
             kv.CompareTarget.MOD: "mod_revision", kv.CompareTarget.VALUE: "value",
             kv.CompareTarget.LEASE: "lease"}[target]
    value = _b(rnd) if union == "value" else _i(rnd)
    return kv.Compare(result=kv.CompareResult(rnd.randrange(4)), target=target, key=_b(rnd),
                      range_end=_b(rnd), **{union: value})


def _txn(rnd, depth: int = 0) -> kv.TxnRequest:
    def op():
        kind = rnd.randrange(4 if depth < 2 else 3)
        if kind == 0:
            return kv.RequestOp(request_range=_range(rnd))
        if kind == 1:
            return kv.RequestOp(request_put=_put(rnd))
        if kind == 2:
            return kv.RequestOp(request_delete_range=_delete(rnd))
        return kv.RequestOp(request_txn=_txn(rnd, depth + 1))
    return kv.TxnRequest(compare=tuple(_compare(rnd) for _ in range(rnd.randrange(3))),
                         success=tuple(op() for _ in range(rnd.randrange(3))),
                         failure=tuple(op() for _ in range(rnd.randrange(3))))


def _kv(rnd) -> kv.KeyValue:
    return kv.KeyValue(key=_b(rnd), create_revision=_i(rnd), mod_revision=_i(rnd),
                       version=_i(rnd), value=_b(rnd), lease=_i(rnd))


def _watch_response(rnd) -> kv.WatchResponse:
    events = tuple(kv.Event(type=kv.EventType(rnd.randrange(2)), kv=_kv(rnd),
                            prev_kv=_kv(rnd) if rnd.random() < .5 else None)
                   for _ in range(rnd.randrange(4)))
    return kv.WatchResponse(
        header=kv.ResponseHeader(*(abs(_i(rnd)) for _ in range(4))),  # uint64s but revision
        watch_id=_i(rnd),
        created=rnd.random() < .5, canceled=rnd.random() < .5, compact_revision=_i(rnd),
        cancel_reason="r" * rnd.choice([0, 3, 200]), fragment=rnd.random() < .5, events=events)


@pytest.mark.parametrize("make, pb_cls, size", [
    (_range, pb.RangeRequest, ps.message_size), (_put, pb.PutRequest, ps.message_size),
    (_delete, pb.DeleteRangeRequest, ps.message_size), (_txn, pb.TxnRequest, ps.message_size),
    (lambda rnd: kv.CompactionRequest(revision=_i(rnd), physical=rnd.random() < .5),
     pb.CompactionRequest, ps.message_size),
    (_watch_response, pb.WatchResponse, ps.response_size)],
    ids=["range", "put", "delete", "txn", "compaction", "watch_response"])
def test_sizes_equal_protobufs(make, pb_cls, size):
    rnd = random.Random(pb_cls.__name__)
    for _ in range(400):
        msg = make(rnd)
        as_pb = encoder(type(msg), pb_cls)(msg)
        assert size(msg) == as_pb.ByteSize(), msg
