"""The gRPC front end's bounds on one client, replayed from a real etcd's answers
(tests/conformance/recorded/limits.json, record_limits.py): txns nested 2 to 100000 levels get
etcd's code and text, a stream past --max-concurrent-streams and a header list past
--max-request-header-bytes get grpc-go's RST_STREAM codes on a connection that serves on; each
refusal is counted on /metrics, and the member never logs a traceback."""
import json
from pathlib import Path

import grpc
import pytest

from petcd.common.proto import rpc_pb2 as pb
from tests.conformance.record_limits import nested_txn, play_h2, play_txn
from .member import Member
from .test_http_limits import hits

pytestmark = pytest.mark.integration

RECORDED = json.loads((Path(__file__).resolve().parents[1] / "conformance" / "recorded"
                       / "limits.json").read_text())
H2 = {c["name"]: c for c in RECORDED["h2"]}
HEADER_LIST_BYTES = 65536


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    m = Member(tmp_path_factory.mktemp("grpc-limits"), "gl1",
               ("--max-concurrent-streams", "2",
                "--max-request-header-bytes", str(HEADER_LIST_BYTES)))
    m.start()
    yield m
    m.stop()
    assert b"Traceback" not in m.log_path.read_bytes()


@pytest.mark.parametrize("case", RECORDED["grpc_txn_depth"], ids=lambda c: c["name"])
def test_nested_txns_get_etcds_answers(member, case):
    assert play_txn(member.client_port, case) == case["etcd"]


def txn(member, data: bytes):
    with grpc.insecure_channel(f"127.0.0.1:{member.client_port}") as ch:
        try:
            ch.unary_unary("/etcdserverpb.KV/Txn")(data, timeout=20)
        except grpc.RpcError as e:
            return e.code()
    return grpc.StatusCode.OK


def test_too_deep_and_too_large_are_counted(member):
    depth, body = hits(member, "grpc", "txn_depth"), hits(member, "grpc", "body_bytes")
    assert txn(member, nested_txn(129)) == grpc.StatusCode.OK
    assert hits(member, "grpc", "txn_depth") == depth  # deep, but it can pass
    assert txn(member, nested_txn(1000)) == grpc.StatusCode.INVALID_ARGUMENT
    assert hits(member, "grpc", "txn_depth") == depth + 1
    too_large = pb.TxnRequest(compare=[pb.Compare(key=b"k" * (2 << 20))]).SerializeToString()
    assert txn(member, too_large) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert hits(member, "grpc", "body_bytes") == body + 1


def test_a_stream_past_max_concurrent_streams_is_refused_alone(member):
    case = H2["streams_past_max"]
    before = hits(member, "grpc", "streams")
    got = play_h2(member.client_port, case, HEADER_LIST_BYTES)
    assert got == case["etcd"]  # SETTINGS_MAX_CONCURRENT_STREAMS 2 and REFUSED_STREAM
    assert hits(member, "grpc", "streams") == before + 1


@pytest.mark.parametrize("name", ["header_list_past_max", "header_list_below_max"])
def test_a_header_list_past_the_limit_resets_its_stream_alone(member, name):
    # etcd's limit is grpc-go's 16 MiB; the lists are sized relative to each server's
    case = H2[name]
    before = hits(member, "grpc", "header_bytes")
    got = play_h2(member.client_port, case, HEADER_LIST_BYTES)
    assert got["max_concurrent_streams"] == 2
    assert (got["streams"], got["connection_closed"]) == (case["etcd"]["streams"],
                                                          case["etcd"]["connection_closed"])
    refused = case["etcd"]["streams"]["1"].startswith("RST_STREAM")
    assert hits(member, "grpc", "header_bytes") == before + refused


def test_grpcio_sees_internal_for_metadata_past_the_limit_as_from_etcd(member):
    # grpcio sends past SETTINGS_MAX_HEADER_LIST_SIZE; etcd's answer at its own limit is
    # INTERNAL "Received RST_STREAM with error code 6" (FRAME_SIZE_ERROR)
    with grpc.insecure_channel(f"127.0.0.1:{member.client_port}") as ch:
        status = ch.unary_unary("/etcdserverpb.Maintenance/Status")
        with pytest.raises(grpc.RpcError) as e:
            status(b"", metadata=[(f"x-{i}", "b") for i in range(HEADER_LIST_BYTES // 36)],
                   timeout=20)
        assert e.value.code() == grpc.StatusCode.INTERNAL
        assert "RST_STREAM with error code 6" in e.value.details()
        assert status(b"", timeout=20)  # the channel serves on
