"""etcdserverpb.Auth while petcd has no auth store: the answers of an etcd with no users.

petcd does not keep users and roles yet (docs/compatibility.md). etcd with auth disabled and no
users answers: Authenticate "authentication is not enabled"; AuthDisable succeeds; AuthEnable
"root user does not exist"; UserList and RoleList are empty; a user or role that is asked for
by name is not found. Those answers are given here, as they are true of petcd. Creating users,
roles or permissions needs the store, so those calls get "authentication is not enabled".

Must never: answer a call that would change auth state as if it had.
"""
from __future__ import annotations

from typing import Callable

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from petcd.common.proto import rpc_pb2

_NOT_ENABLED = "etcdserver: authentication is not enabled"
_NO_ROOT = "etcdserver: root user does not exist"
_NO_USER = "etcdserver: user name not found"
_NO_ROLE = "etcdserver: role name not found"

# method -> the FailedPrecondition message it gets (None: answered with an empty response)
_ANSWERS = {
    "AuthEnable": _NO_ROOT,
    "AuthDisable": None,
    "Authenticate": _NOT_ENABLED,
    "UserAdd": _NOT_ENABLED,
    "UserGet": _NO_USER,
    "UserList": None,
    "UserDelete": _NO_USER,
    "UserChangePassword": _NO_USER,
    "UserGrantRole": _NO_USER,
    "UserRevokeRole": _NO_USER,
    "RoleAdd": _NOT_ENABLED,
    "RoleGet": _NO_ROLE,
    "RoleList": None,
    "RoleDelete": _NO_ROLE,
    "RoleGrantPermission": _NO_ROLE,
    "RoleRevokePermission": _NO_ROLE,
}


def auth_handlers(header: Callable[[], rpc_pb2.ResponseHeader],
                  reply_types: dict[str, type]) -> dict[str, Callable]:
    """gRPC path -> handler, for every Auth method. header(): this member's current header;
    reply_types: gRPC path -> reply class (from the generated service)."""
    out = {}
    for method, error in _ANSWERS.items():
        path = f"/etcdserverpb.Auth/{method}"

        async def handle(stream, error=error, reply=reply_types[path]) -> None:
            await stream.recv_message()
            if error is not None:
                raise GRPCError(Status.FAILED_PRECONDITION, error)
            await stream.send_message(reply(header=header()))

        out[path] = handle
    return out
