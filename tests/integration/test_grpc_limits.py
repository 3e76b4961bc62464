"""The gRPC front end's bounds on one client, replayed from a real etcd's answers
(tests/conformance/recorded/limits.json, record_limits.py): txns nested 2 to 100000 levels get
etcd's code and text, a stream past --max-concurrent-streams and a header list past
--max-request-header-bytes get grpc-go's RST_STREAM codes on a connection that serves on; each
refusal is counted on /metrics, and the member never logs a traceback."""
import grpc
import pytest

from petcd.common.proto import rpc_pb2 as pb
from tests.conformance.record_limits import nested_txn, play_h2, play_txn
from .test_http_limits import RECORDED, hits

pytestmark = pytest.mark.integration

H2 = {c["name"]: c for c in RECORDED["h2"]}
HEADER_LIST_BYTES = 65536
SMALL = ("--max-concurrent-streams", "2", "--max-request-header-bytes", str(HEADER_LIST_BYTES))


def no_traceback(m) -> bool:
    return b"Traceback" not in m.log_path.read_bytes()


def txn(member, data: bytes):
    with grpc.insecure_channel(f"127.0.0.1:{member.client_port}") as ch:
        try:
            ch.unary_unary("/etcdserverpb.KV/Txn")(data, timeout=20)
        except grpc.RpcError as e:
            return e.code()
    return grpc.StatusCode.OK


def test_nested_txns_get_etcds_answers_and_refusals_are_counted(start_member):
    m = start_member(name="depth")
    wrong = [(c["name"], got, c["etcd"]) for c in RECORDED["grpc_txn_depth"]
             if (got := play_txn(m.client_port, c)) != c["etcd"]]
    assert not wrong
    depth, body = hits(m, "grpc", "txn_depth"), hits(m, "grpc", "body_bytes")
    assert txn(m, nested_txn(129)) == grpc.StatusCode.OK
    assert hits(m, "grpc", "txn_depth") == depth  # deep, but it can pass
    assert txn(m, nested_txn(1000)) == grpc.StatusCode.INVALID_ARGUMENT
    assert hits(m, "grpc", "txn_depth") == depth + 1
    too_large = pb.TxnRequest(compare=[pb.Compare(key=b"k" * (2 << 20))]).SerializeToString()
    assert txn(m, too_large) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert hits(m, "grpc", "body_bytes") == body + 1
    assert no_traceback(m)


def test_streams_and_header_lists_past_the_bounds_are_refused_alone(start_member):
    m = start_member(name="h2", extra_args=SMALL)
    case = H2["streams_past_max"]
    before = hits(m, "grpc", "streams")
    got = play_h2(m.client_port, case, HEADER_LIST_BYTES)
    assert got == case["etcd"]  # SETTINGS_MAX_CONCURRENT_STREAMS 2 and REFUSED_STREAM
    assert hits(m, "grpc", "streams") == before + 1
    # etcd's header list limit is grpc-go's 16 MiB; the lists are sized to each server's
    for name, refused in (("header_list_past_max", 1), ("header_list_below_max", 0)):
        case = H2[name]
        before = hits(m, "grpc", "header_bytes")
        got = play_h2(m.client_port, case, HEADER_LIST_BYTES)
        assert got["max_concurrent_streams"] == 2
        assert (got["streams"], got["connection_closed"]) == (
            case["etcd"]["streams"], case["etcd"]["connection_closed"]), name
        assert hits(m, "grpc", "header_bytes") == before + refused
    # grpcio sends past SETTINGS_MAX_HEADER_LIST_SIZE; etcd's answer at its own limit is
    # INTERNAL "Received RST_STREAM with error code 6" (FRAME_SIZE_ERROR)
    with grpc.insecure_channel(f"127.0.0.1:{m.client_port}") as ch:
        status = ch.unary_unary("/etcdserverpb.Maintenance/Status")
        with pytest.raises(grpc.RpcError) as e:
            status(b"", metadata=[(f"x-{i}", "b") for i in range(HEADER_LIST_BYTES // 36)],
                   timeout=20)
        assert e.value.code() == grpc.StatusCode.INTERNAL
        assert "RST_STREAM with error code 6" in e.value.details()
        assert status(b"", timeout=20)  # the channel serves on
    assert no_traceback(m)
