"""etcd's gRPC services, method by method: the one table from gRPC path to the service layer.

Theory of operation. grpclib dispatches on the method path (`/etcdserverpb.KV/Range`). The
generated service bases (common/proto/*_grpc.py) know each method's cardinality and message
classes; this module reads them from there, so the only thing written here is which coroutine
answers which method. Unary methods go through unary.handler(); the streams (Watch,
LeaseKeepAlive, Snapshot, Observe) have handlers of their own. A method of etcd's that petcd
does not serve yet is left out of the table, and grpclib answers it Unimplemented.

Must never: register a path that is not etcd's, or answer a method with another's messages.
"""
from __future__ import annotations

from typing import Awaitable, Callable

import grpclib.const
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from petcd.common import auth, cluster, concurrency, kv, lease
from petcd.common.proto import rpc_pb2
from petcd.common.proto.methods import etcd_methods
from .unary import Checks, handler

def auth_calls(a) -> dict[str, tuple[type, Callable]]:
    """The Auth service's methods, answered by `a` (auth_service.AuthService)."""
    return {f"/etcdserverpb.Auth/{method}": (cls, getattr(a, name)) for method, cls, name in (
        ("AuthEnable", auth.AuthEnableRequest, "auth_enable"),
        ("AuthDisable", auth.AuthDisableRequest, "auth_disable"),
        ("Authenticate", auth.AuthenticateRequest, "authenticate"),
        ("UserAdd", auth.AuthUserAddRequest, "user_add"),
        ("UserGet", auth.AuthUserGetRequest, "user_get"),
        ("UserList", auth.AuthUserListRequest, "user_list"),
        ("UserDelete", auth.AuthUserDeleteRequest, "user_delete"),
        ("UserChangePassword", auth.AuthUserChangePasswordRequest, "user_change_password"),
        ("UserGrantRole", auth.AuthUserGrantRoleRequest, "user_grant_role"),
        ("UserRevokeRole", auth.AuthUserRevokeRoleRequest, "user_revoke_role"),
        ("RoleAdd", auth.AuthRoleAddRequest, "role_add"),
        ("RoleGet", auth.AuthRoleGetRequest, "role_get"),
        ("RoleList", auth.AuthRoleListRequest, "role_list"),
        ("RoleDelete", auth.AuthRoleDeleteRequest, "role_delete"),
        ("RoleGrantPermission", auth.AuthRoleGrantPermissionRequest, "role_grant_permission"),
        ("RoleRevokePermission", auth.AuthRoleRevokePermissionRequest,
         "role_revoke_permission"))}


def unary_calls(service, leases, members, status: Callable[[], Awaitable],
                hash_: Callable, hash_kv: Callable, locks,
                auth_service=None) -> dict[str, tuple[type, Callable]]:
    """gRPC path -> (the service layer's request class, the coroutine that answers it).
    locks: the Lock and Election services (concurrency.py); auth_service: the Auth
    service's (auth_service.py; None: not served)."""
    return {
        **(auth_calls(auth_service) if auth_service is not None else {}),
        "/etcdserverpb.KV/Range": (kv.RangeRequest, service.range),
        "/etcdserverpb.KV/Put": (kv.PutRequest, service.put),
        "/etcdserverpb.KV/DeleteRange": (kv.DeleteRangeRequest, service.delete_range),
        "/etcdserverpb.KV/Txn": (kv.TxnRequest, service.txn),
        "/etcdserverpb.KV/Compact": (kv.CompactionRequest, service.compact),
        "/etcdserverpb.Lease/LeaseGrant": (lease.LeaseGrantRequest, leases.grant),
        "/etcdserverpb.Lease/LeaseRevoke": (lease.LeaseRevokeRequest, leases.revoke),
        "/etcdserverpb.Lease/LeaseTimeToLive": (lease.LeaseTimeToLiveRequest,
                                                leases.time_to_live),
        "/etcdserverpb.Lease/LeaseLeases": (lease.LeaseLeasesRequest, leases.leases),
        "/etcdserverpb.Cluster/MemberAdd": (cluster.MemberAddRequest, members.add),
        "/etcdserverpb.Cluster/MemberRemove": (cluster.MemberRemoveRequest, members.remove),
        "/etcdserverpb.Cluster/MemberUpdate": (cluster.MemberUpdateRequest, members.update),
        "/etcdserverpb.Cluster/MemberList": (cluster.MemberListRequest, members.list),
        "/etcdserverpb.Cluster/MemberPromote": (cluster.MemberPromoteRequest, members.promote),
        "/etcdserverpb.Maintenance/Alarm": (cluster.AlarmRequest, service.alarm),
        "/etcdserverpb.Maintenance/Status": (cluster.StatusRequest, lambda req: status()),
        "/etcdserverpb.Maintenance/Hash": (cluster.HashRequest, hash_),
        "/etcdserverpb.Maintenance/HashKV": (cluster.HashKVRequest, hash_kv),
        "/etcdserverpb.Maintenance/MoveLeader": (cluster.MoveLeaderRequest,
                                                 service.move_leader),
        "/etcdserverpb.Maintenance/Defragment": (cluster.DefragmentRequest,
                                                 service.defragment),
        "/v3lockpb.Lock/Lock": (concurrency.LockRequest, locks.lock),
        "/v3lockpb.Lock/Unlock": (concurrency.UnlockRequest, locks.unlock),
        "/v3electionpb.Election/Campaign": (concurrency.CampaignRequest, locks.campaign),
        "/v3electionpb.Election/Proclaim": (concurrency.ProclaimRequest, locks.proclaim),
        "/v3electionpb.Election/Leader": (concurrency.LeaderRequest, locks.leader),
        "/v3electionpb.Election/Resign": (concurrency.ResignRequest, locks.resign),
    }


class _Methods(dict):
    """The mapping grpclib looks methods up in; a path it lacks gets grpc-go's Unimplemented
    answer (grpclib's own has no content-type, which Go clients report as a transport error)."""

    def get(self, path, default=None):
        found = dict.get(self, path)
        return found if found is not None else _unknown(path, self)


def _unknown(path: str, methods: dict) -> grpclib.const.Handler:
    service, _, method = path.lstrip("/").rpartition("/")
    if not path.startswith("/") or not service:
        message = f"malformed method name: {path!r}"
    elif any(p.startswith(f"/{service}/") for p in methods):
        message = f"unknown method {method} for service {service}"
    else:
        message = f"unknown service {service}"

    async def refuse(stream) -> None:
        raise GRPCError(Status.UNIMPLEMENTED, message)

    # never reads a message, so any message class will do
    return grpclib.const.Handler(refuse, grpclib.const.Cardinality.STREAM_STREAM,
                                 rpc_pb2.RangeRequest, rpc_pb2.RangeResponse)


def mapping(checks: Checks, unary: dict[str, tuple[type, Callable]],
            streams: dict[str, Callable]) -> dict[str, grpclib.const.Handler]:
    """The grpclib mapping: every unary call wrapped by unary.handler; `streams` (and any
    other handler that reads its own messages) as given."""
    methods = etcd_methods()
    out = _Methods()
    for path, (request_cls, call) in unary.items():
        m = methods[path]
        out[path] = grpclib.const.Handler(
            handler(checks, request_cls, call, m.request_type, m.reply_type),
            m.cardinality, m.request_type, m.reply_type)
    for path, handle in streams.items():
        m = methods[path]
        out[path] = grpclib.const.Handler(handle, m.cardinality, m.request_type, m.reply_type)
    return out
