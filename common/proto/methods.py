"""etcd's gRPC methods as the generated service bases declare them: path, cardinality and
message classes, for the server (stages/api/grpc/) and for clients (client/grpc_transport.py)."""
from __future__ import annotations

import functools

import grpclib.const

from petcd.common.proto import rpc_grpc, v3election_grpc, v3lock_grpc

_BASES = (rpc_grpc.KVBase, rpc_grpc.WatchBase, rpc_grpc.LeaseBase, rpc_grpc.ClusterBase,
          rpc_grpc.MaintenanceBase, rpc_grpc.AuthBase, v3lock_grpc.LockBase,
          v3election_grpc.ElectionBase)


class _Names:
    """Stands in for a service object: each method is its own name, so that a generated
    __mapping__ yields the method names with their cardinality and message classes."""

    def __getattr__(self, name: str) -> str:
        return name


def reply_types() -> dict[str, type]:
    return {path: m.reply_type for path, m in etcd_methods().items()}


@functools.cache
def etcd_methods() -> dict[str, grpclib.const.Handler]:
    """gRPC path -> Handler(method name, cardinality, request class, reply class)."""
    out: dict[str, grpclib.const.Handler] = {}
    for base in _BASES:
        out.update(base.__mapping__(_Names()))
    return out


@functools.cache
def path_of(method: str) -> str:
    """The gRPC path of a method by its name (`Range` -> `/etcdserverpb.KV/Range`); etcd's
    method names are unique across its services."""
    found = [p for p in etcd_methods() if p.rsplit("/", 1)[1] == method]
    if len(found) != 1:
        raise KeyError(method)
    return found[0]
