"""The Auth service's messages (etcd's etcdserverpb Auth* and authpb), and what the stages say
of auth.

Client-facing: etcd 3.4's sixteen Auth RPCs, with the proto's field names (which are not
consistent: UserGrantRole names its user `user`, UserRevokeRole `name`; RoleGet and RoleDelete
name the role `role`, RoleAdd and RoleGrantPermission `name`). Internal: what a request becomes
in the raft log when it must not carry the client's words (a password travels only as its
bcrypt hash, made before raft, so that apply never spends a bcrypt on it), the result apply
gives back, and what apply tells every api worker after a batch that changed auth.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .kv import ResponseHeader

ROOT_USER = "root"
ROOT_ROLE = "root"


class PermType(IntEnum):
    READ = 0
    WRITE = 1
    READWRITE = 2


@dataclass(frozen=True, slots=True)
class Permission:
    permType: PermType = PermType.READ   # noqa: N815  (the proto's name, also in JSON)
    key: bytes = b""
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class UserAddOptions:
    no_password: bool = False


@dataclass(frozen=True, slots=True)
class AuthEnableRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthEnableResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthDisableRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthDisableResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthenticateRequest:
    name: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True)
class AuthenticateResponse:
    header: ResponseHeader | None = None
    token: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserAddRequest:
    name: str = ""
    password: str = ""
    options: UserAddOptions | None = None


@dataclass(frozen=True, slots=True)
class AuthUserAddResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthUserGetRequest:
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserGetResponse:
    header: ResponseHeader | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthUserDeleteRequest:
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserDeleteResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthUserChangePasswordRequest:
    name: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserChangePasswordResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthUserGrantRoleRequest:
    user: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserGrantRoleResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthUserRevokeRoleRequest:
    name: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserRevokeRoleResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthUserListRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthUserListResponse:
    header: ResponseHeader | None = None
    users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthRoleAddRequest:
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuthRoleAddResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthRoleGetRequest:
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthRoleGetResponse:
    header: ResponseHeader | None = None
    perm: tuple[Permission, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthRoleListRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthRoleListResponse:
    header: ResponseHeader | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthRoleDeleteRequest:
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthRoleDeleteResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthRoleGrantPermissionRequest:
    name: str = ""
    perm: Permission | None = None


@dataclass(frozen=True, slots=True)
class AuthRoleGrantPermissionResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class AuthRoleRevokePermissionRequest:
    role: str = ""
    key: bytes = b""
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class AuthRoleRevokePermissionResponse:
    header: ResponseHeader | None = None


# --- internal: in the raft log, from apply -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class AuthUserAdd:
    """UserAdd as proposed: the password already hashed (empty for a no-password user)."""
    name: str
    password_hash: bytes
    no_password: bool


@dataclass(frozen=True, slots=True)
class AuthUserChangePassword:
    name: str
    password_hash: bytes


@dataclass(frozen=True, slots=True)
class AuthAuthenticate:
    """Authenticate as proposed, after the api checked the password: apply gives the user the
    token `<token_prefix>.<index of this entry>` on every member (etcd's simple token)."""
    name: str
    token_prefix: str


@dataclass(frozen=True, slots=True)
class AuthResult:
    """apply's answer to an auth change (the api adds the header); `token` for Authenticate."""
    token: str = ""


@dataclass(frozen=True, slots=True)
class AuthApplied:
    """What apply tells every api worker after a batch that changed auth (before that batch's
    Applied): whether auth is on, the auth store's revision, tokens given out as (token, user),
    users whose tokens die (deleted, or their password changed), and `reset`: every token
    dies (auth was disabled, or the store was replaced by a snapshot)."""
    enabled: bool
    revision: int
    assigned: tuple[tuple[str, str], ...] = ()
    invalidated: tuple[str, ...] = ()
    reset: bool = False


# Every auth message that crosses a process boundary (codec type codes 95..109).
AUTH_TYPES = (
    Permission, AuthEnableRequest, AuthDisableRequest, AuthUserDeleteRequest,
    AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest, AuthRoleAddRequest,
    AuthRoleDeleteRequest, AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest,
    AuthUserAdd, AuthUserChangePassword, AuthAuthenticate, AuthResult, AuthApplied)

# The requests that change auth state (proposed through raft).
AUTH_CHANGES = (
    AuthEnableRequest, AuthDisableRequest, AuthUserDeleteRequest, AuthUserGrantRoleRequest,
    AuthUserRevokeRoleRequest, AuthRoleAddRequest, AuthRoleDeleteRequest,
    AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest, AuthUserAdd,
    AuthUserChangePassword, AuthAuthenticate)
