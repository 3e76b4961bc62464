"""The checked-in protobuf and grpclib modules match what grpcio-tools makes from the .proto."""
from petcd.common.proto import generate


def test_generated_modules_are_fresh():
    for name, data in generate.generated().items():
        assert (generate.HERE / name).read_bytes() == data, (
            f"common/proto/{name} is stale: run python -m petcd.common.proto.generate")


def test_proto_files_are_etcds_without_go_annotations():
    for name in generate.SOURCES:
        text = (generate.HERE / name).read_text()
        assert "gogoproto" not in text and "google.api" not in text
        assert generate.strip(text) == text  # stripping again changes nothing


def test_grpc_paths_are_etcds():
    from petcd.common.proto import rpc_grpc, v3election_grpc, v3lock_grpc
    paths = set()
    for base in (rpc_grpc.KVBase, rpc_grpc.WatchBase, rpc_grpc.LeaseBase, rpc_grpc.ClusterBase,
                 rpc_grpc.MaintenanceBase, rpc_grpc.AuthBase, v3lock_grpc.LockBase,
                 v3election_grpc.ElectionBase):
        paths |= set(base.__mapping__(base))
    assert "/etcdserverpb.KV/Range" in paths
    assert "/etcdserverpb.Watch/Watch" in paths
    assert "/etcdserverpb.Maintenance/Snapshot" in paths
    assert "/v3lockpb.Lock/Lock" in paths
    assert "/v3electionpb.Election/Campaign" in paths
