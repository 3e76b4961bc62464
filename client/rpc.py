"""The table of RPCs the client calls: name -> gateway path, request type, response type.

The names are the native protocol's method names (stages/api/native/front_end.py), which are etcd's
gRPC method names; the paths are etcd 3.4's gateway routes under /v3/ (reference/etcd-api.md
section 1). `hashkv` is the path etcd 3.5.10+ added (3.4's gateway runs Hash on /hash).
"""
from __future__ import annotations

from dataclasses import dataclass

from petcd.common import auth, cluster, kv
from . import messages as m


@dataclass(frozen=True, slots=True)
class Rpc:
    name: str
    path: str
    request: type
    response: type
    stream: bool = False


# The Maintenance service's own messages are the server's (common/cluster.py).
DefragmentRequest = cluster.DefragmentRequest
DefragmentResponse = cluster.DefragmentResponse
SnapshotRequest = cluster.SnapshotRequest
SnapshotResponse = cluster.SnapshotResponse


RPCS: dict[str, Rpc] = {r.name: r for r in (
    Rpc("Range", "kv/range", kv.RangeRequest, kv.RangeResponse),
    Rpc("Put", "kv/put", kv.PutRequest, kv.PutResponse),
    Rpc("DeleteRange", "kv/deleterange", kv.DeleteRangeRequest, kv.DeleteRangeResponse),
    Rpc("Txn", "kv/txn", kv.TxnRequest, kv.TxnResponse),
    Rpc("Compact", "kv/compaction", kv.CompactionRequest, kv.CompactionResponse),
    Rpc("Status", "maintenance/status", cluster.StatusRequest, cluster.StatusResponse),
    Rpc("Alarm", "maintenance/alarm", cluster.AlarmRequest, cluster.AlarmResponse),
    Rpc("HashKV", "maintenance/hashkv", cluster.HashKVRequest, cluster.HashKVResponse),
    Rpc("MoveLeader", "maintenance/transfer-leadership", cluster.MoveLeaderRequest,
        cluster.MoveLeaderResponse),
    Rpc("Defragment", "maintenance/defragment", DefragmentRequest, DefragmentResponse),
    Rpc("Snapshot", "maintenance/snapshot", SnapshotRequest, SnapshotResponse, stream=True),
    Rpc("MemberList", "cluster/member/list", cluster.MemberListRequest,
        cluster.MemberListResponse),
    Rpc("MemberAdd", "cluster/member/add", cluster.MemberAddRequest, cluster.MemberAddResponse),
    Rpc("MemberRemove", "cluster/member/remove", cluster.MemberRemoveRequest,
        cluster.MemberRemoveResponse),
    Rpc("MemberUpdate", "cluster/member/update", cluster.MemberUpdateRequest,
        cluster.MemberUpdateResponse),
    Rpc("MemberPromote", "cluster/member/promote", cluster.MemberPromoteRequest,
        cluster.MemberPromoteResponse),
    Rpc("LeaseGrant", "lease/grant", m.LeaseGrantRequest, m.LeaseGrantResponse),
    Rpc("LeaseRevoke", "lease/revoke", m.LeaseRevokeRequest, m.LeaseRevokeResponse),
    Rpc("LeaseTimeToLive", "lease/timetolive", m.LeaseTimeToLiveRequest,
        m.LeaseTimeToLiveResponse),
    Rpc("LeaseLeases", "lease/leases", m.LeaseLeasesRequest, m.LeaseLeasesResponse),
    Rpc("LeaseKeepAlive", "lease/keepalive", m.LeaseKeepAliveRequest,
        m.LeaseKeepAliveResponse, stream=True),
    Rpc("Watch", "watch", m.WatchRequest, m.WatchResponse, stream=True),
    *(Rpc(name, "auth/" + path, req, getattr(auth, req.__name__.replace("Request", "Response")))
      for name, path, req in (
          ("AuthEnable", "enable", auth.AuthEnableRequest),
          ("AuthDisable", "disable", auth.AuthDisableRequest),
          ("Authenticate", "authenticate", auth.AuthenticateRequest),
          ("UserAdd", "user/add", auth.AuthUserAddRequest),
          ("UserGet", "user/get", auth.AuthUserGetRequest),
          ("UserList", "user/list", auth.AuthUserListRequest),
          ("UserDelete", "user/delete", auth.AuthUserDeleteRequest),
          ("UserChangePassword", "user/changepw", auth.AuthUserChangePasswordRequest),
          ("UserGrantRole", "user/grant", auth.AuthUserGrantRoleRequest),
          ("UserRevokeRole", "user/revoke", auth.AuthUserRevokeRoleRequest),
          ("RoleAdd", "role/add", auth.AuthRoleAddRequest),
          ("RoleGet", "role/get", auth.AuthRoleGetRequest),
          ("RoleList", "role/list", auth.AuthRoleListRequest),
          ("RoleDelete", "role/delete", auth.AuthRoleDeleteRequest),
          ("RoleGrantPermission", "role/grant", auth.AuthRoleGrantPermissionRequest),
          ("RoleRevokePermission", "role/revoke", auth.AuthRoleRevokePermissionRequest))),
)}
