"""The gRPC front end's pure parts: protobuf <-> dataclass converters built from the two
declarations, and the checks etcd's interceptors make before an RPC."""
from __future__ import annotations

import dataclasses

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from petcd.common import cluster, concurrency, kv, lease
from petcd.common.proto import kv_pb2, rpc_pb2 as pb, v3election_pb2, v3lock_pb2
from petcd.common.proto import convert
from petcd.common.proto.methods import etcd_methods
from petcd.stages.api.grpc.services import unary_calls
from petcd.stages.api.grpc.unary import Checks


def test_a_nested_txn_round_trips_with_enums_oneofs_and_defaults():
    req = pb.TxnRequest(
        compare=[pb.Compare(key=b"a", target=pb.Compare.MOD, result=pb.Compare.LESS,
                            mod_revision=5)],
        success=[pb.RequestOp(request_txn=pb.TxnRequest(success=[pb.RequestOp(
            request_delete_range=pb.DeleteRangeRequest(key=b"b", prev_kv=True))]))],
        failure=[pb.RequestOp(request_range=pb.RangeRequest(
            key=b"c", sort_order=pb.RangeRequest.DESCEND, sort_target=pb.RangeRequest.MOD))])
    got = convert.decoder(kv.TxnRequest, pb.TxnRequest.DESCRIPTOR)(req)
    assert got.compare == (kv.Compare(result=kv.CompareResult.LESS,
                                      target=kv.CompareTarget.MOD, key=b"a", mod_revision=5),)
    inner = got.success[0].request_txn.success[0]
    assert inner == kv.RequestOp(request_delete_range=kv.DeleteRangeRequest(b"b", prev_kv=True))
    assert got.failure[0].request_range.sort_order is kv.SortOrder.DESCEND
    assert got.failure[0].request_put is None


def test_unknown_enum_numbers_are_kept_as_ints():
    got = convert.decoder(kv.RangeRequest, pb.RangeRequest.DESCRIPTOR)(
        pb.RangeRequest(key=b"a", sort_order=7))
    assert got.sort_order == 7


def test_encoding_leaves_defaults_out_and_maps_differently_spelled_names():
    enc = convert.encoder(lease.LeaseTimeToLiveResponse, pb.LeaseTimeToLiveResponse)
    out = enc(lease.LeaseTimeToLiveResponse(header=kv.ResponseHeader(revision=3), id=7, ttl=0,
                                            granted_ttl=10, keys=(b"k",)))
    assert (out.ID, out.TTL, out.grantedTTL, list(out.keys)) == (7, 0, 10, [b"k"])
    assert [f.name for f, _ in out.ListFields()] == ["header", "ID", "grantedTTL", "keys"]
    assert [f.name for f, _ in out.header.ListFields()] == ["revision"]


def test_an_empty_sub_message_is_still_set():
    enc = convert.encoder(kv.TxnResponse, pb.TxnResponse)
    out = enc(kv.TxnResponse(responses=(kv.ResponseOp(response_put=kv.PutResponse()),)))
    assert out.responses[0].WhichOneof("response") == "response_put"


@pytest.mark.parametrize("cls, pb_cls", [
    (kv.WatchResponse, pb.WatchResponse), (cluster.StatusResponse, pb.StatusResponse),
    (cluster.MemberListResponse, pb.MemberListResponse),
    (cluster.SnapshotResponse, pb.SnapshotResponse), (cluster.AlarmResponse, pb.AlarmResponse),
    (concurrency.CampaignResponse, v3election_pb2.CampaignResponse),
    (concurrency.LeaderResponse, v3election_pb2.LeaderResponse),
    (concurrency.LockResponse, v3lock_pb2.LockResponse)])
def test_every_served_response_type_has_a_converter(cls, pb_cls):
    assert convert.encoder(cls, pb_cls)(cls()) == pb_cls()


def test_a_dataclass_field_the_proto_lacks_is_an_error():
    @dataclasses.dataclass(frozen=True)
    class Odd:
        key: bytes = b""
        nothing_like_it: int = 0
    with pytest.raises(TypeError, match="nothing_like_it"):
        convert.decoder(Odd, kv_pb2.KeyValue.DESCRIPTOR)


def test_every_unary_call_names_an_etcd_method_and_its_request_type():
    class Any_:
        def __getattr__(self, name):
            return name
    calls = unary_calls(Any_(), Any_(), Any_(), Any_(), Any_(), Any_(), Any_())
    methods = etcd_methods()
    for path, (request_cls, _) in calls.items():
        # the converter builds, so every dataclass field has its proto field
        convert.decoder(request_cls, methods[path].request_type.DESCRIPTOR)


class _Peer:
    def addr(self):
        return ("127.0.0.1", 50000)

    def cert(self):
        return None


class _Stream:
    """What Checks.before reads of a grpclib Stream: its metadata and its peer."""
    def __init__(self, metadata):
        self.metadata = metadata
        self.peer = _Peer()


def test_hasleader_metadata_fails_fast_without_a_leader():
    checks = Checks(has_leader=lambda: False, is_learner=lambda: False)
    checks.before(_Stream({}), kv.RangeRequest(key=b"a"))  # no metadata: waits, as etcd
    with pytest.raises(GRPCError) as e:
        checks.before(_Stream({"hasleader": "true"}), kv.RangeRequest(key=b"a"))
    assert (e.value.status, e.value.message) == (Status.UNAVAILABLE, "etcdserver: no leader")


def test_a_learner_serves_only_status_and_serializable_ranges():
    checks = Checks(has_leader=lambda: True, is_learner=lambda: True)
    checks.before(_Stream({}), kv.RangeRequest(key=b"a", serializable=True))
    checks.before(_Stream({}), cluster.StatusRequest())
    for req in (kv.RangeRequest(key=b"a"), kv.PutRequest(key=b"a"), None):
        with pytest.raises(GRPCError) as e:
            checks.before(_Stream({}), req)
        assert e.value.message == "etcdserver: rpc not supported for learner"
