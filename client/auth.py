"""The client's side of etcd's auth: logging in, and the Auth service's calls.

Theory of operation. A Client made with `user` and `password` authenticates before its first
call and sends the token with every call after (HTTP: the raw Authorization header, as etcd's
gateway wants it; ZeroMQ: the frame's `token`; gRPC: the `token` metadata). As clientv3 does,
a call refused for an invalid token (expired, or the member restarted) or a stale auth
revision logs in again and is sent once more. The mixin's methods are the Auth RPCs with
etcdctl's argument shapes.
"""
from __future__ import annotations

from petcd.common import auth
from petcd.common.auth import PermType, Permission

from .ranges import key_range, to_bytes

# The errors after which clientv3 gets a new token and retries.
_RELOGIN_MESSAGES = ("etcdserver: invalid auth token", "etcdserver: revision of auth store is old")


def needs_login(e: Exception) -> bool:
    return getattr(e, "message", "") in _RELOGIN_MESSAGES


class AuthCalls:
    """The Auth service; mixed into Client (which provides `call`)."""

    def authenticate(self, name: str, password: str) -> auth.AuthenticateResponse:
        return self.call("Authenticate", auth.AuthenticateRequest(name, password))

    def auth_enable(self) -> auth.AuthEnableResponse:
        return self.call("AuthEnable", auth.AuthEnableRequest())

    def auth_disable(self) -> auth.AuthDisableResponse:
        return self.call("AuthDisable", auth.AuthDisableRequest())

    def user_add(self, name: str, password: str = "", *, no_password: bool = False):
        options = auth.UserAddOptions(no_password=True) if no_password else None
        return self.call("UserAdd", auth.AuthUserAddRequest(name, password, options))

    def user_get(self, name: str) -> auth.AuthUserGetResponse:
        return self.call("UserGet", auth.AuthUserGetRequest(name))

    def user_list(self) -> auth.AuthUserListResponse:
        return self.call("UserList", auth.AuthUserListRequest())

    def user_delete(self, name: str):
        return self.call("UserDelete", auth.AuthUserDeleteRequest(name))

    def user_change_password(self, name: str, password: str):
        return self.call("UserChangePassword", auth.AuthUserChangePasswordRequest(name, password))

    def user_grant_role(self, user: str, role: str):
        return self.call("UserGrantRole", auth.AuthUserGrantRoleRequest(user, role))

    def user_revoke_role(self, user: str, role: str):
        return self.call("UserRevokeRole", auth.AuthUserRevokeRoleRequest(user, role))

    def role_add(self, name: str):
        return self.call("RoleAdd", auth.AuthRoleAddRequest(name))

    def role_get(self, name: str) -> auth.AuthRoleGetResponse:
        return self.call("RoleGet", auth.AuthRoleGetRequest(name))

    def role_list(self) -> auth.AuthRoleListResponse:
        return self.call("RoleList", auth.AuthRoleListRequest())

    def role_delete(self, name: str):
        return self.call("RoleDelete", auth.AuthRoleDeleteRequest(name))

    def role_grant_permission(self, name: str, perm_type: PermType | str, key, range_end=None,
                              *, prefix: bool = False, from_key: bool = False):
        k, e = key_range(key, range_end, prefix=prefix, from_key=from_key)
        kind = PermType[perm_type.upper()] if isinstance(perm_type, str) else PermType(perm_type)
        return self.call("RoleGrantPermission",
                         auth.AuthRoleGrantPermissionRequest(name, Permission(kind, k, e)))

    def role_revoke_permission(self, name: str, key, range_end=None, *, prefix: bool = False,
                               from_key: bool = False):
        k, e = key_range(key, range_end, prefix=prefix, from_key=from_key)
        return self.call("RoleRevokePermission",
                         auth.AuthRoleRevokePermissionRequest(name, to_bytes(k), e))
