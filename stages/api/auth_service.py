"""The Auth service and the api's side of auth: who a request is from, and what it may do.

Theory of operation. A front end puts the request's token (gRPC metadata `token`, the
gateway's Authorization header, the native frame's `token`) in `request_token`, a context
variable, before it calls the service layer; each request runs in a task of its own, so the
value is that request's alone. The member's own requests (auto-compaction) run `internal()`:
they carry no identity and apply checks none of them.

`identity()` turns the token into (user, auth revision) as etcd's simple tokens do: a token is
`<16 letters>.<raft index>`, given out by the Authenticate entry at that index on every member
(apply sends every worker the tokens of each batch, in AuthApplied, before the batch's
Applied); a token whose index this member has not applied yet is waited for. A token lives
`auth-token-ttl` seconds after its last use; tokens die with their user (deleted, or the
password changed) and all of them when auth is disabled. Like etcd 3.4, an unknown token is
refused even with auth off. Writes carry the identity through raft, and apply checks their
permissions (stages/apply/auth_store.py); reads and watches are checked here, after the read
barrier, against the same LMDB tables; admin-only calls (members, Hash, Defragment,
Snapshot) are checked here too, as etcd checks them before raft.

Passwords are checked and hashed with bcrypt on worker threads, at most
`auth-max-concurrent-authenticate` at a time per worker: the rest wait, so that a flood of
Authenticate calls costs each worker a bounded share of the cores.

Must never: let a request through that carries a token this member does not know; put a
password in the raft log.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import string
import time
from contextvars import ContextVar

import bcrypt

from petcd.common import auth_perm
from petcd.common.auth import (
    AuthApplied, AuthAuthenticate, AuthDisableRequest, AuthDisableResponse, AuthEnableRequest,
    AuthEnableResponse, AuthenticateResponse, AuthRoleAddResponse, AuthRoleDeleteResponse,
    AuthRoleGetResponse, AuthRoleGrantPermissionResponse, AuthRoleListResponse,
    AuthRoleRevokePermissionResponse, AuthUserAdd, AuthUserAddResponse, AuthUserChangePassword,
    AuthUserChangePasswordResponse, AuthUserDeleteResponse, AuthUserGetResponse,
    AuthUserGrantRoleResponse, AuthUserListResponse, AuthUserRevokeRoleResponse,
)
from petcd.common.errors import (
    RAW_AUTH_ERRORS, Code, ErrAuthFailed, ErrAuthNotEnabled, ErrAuthOldRevision,
    ErrInvalidAuthToken, ErrNoPasswordUser, ErrPermissionDenied, ErrRoleNotFound, ErrUserEmpty,
    ErrUserNotFound, EtcdError,
)
from petcd.common.kv import RangeRequest
from .jwt_tokens import JwtTokens

# The token of the request being served: "" for none, None for the member's own requests.
request_token: ContextVar[str | None] = ContextVar("petcd_request_token", default="")
# etcd looks a token up whenever the metadata names one, even an empty one, and even with
# auth off: an empty token sent is this (no token has a NUL), which is never found.
EMPTY_TOKEN = "\0"


def sent_token(metadata: dict) -> str:
    """The request's token from its metadata, as etcd's AuthInfoFromCtx reads it: `token`,
    else `authorization` (how the gateway forwards Authorization); "" when neither is sent."""
    for name in ("token", "authorization"):
        if name in metadata:
            return metadata[name] or EMPTY_TOKEN
    return ""
# The Common Name of the request's verified client certificate (gRPC with --client-cert-auth):
# the user of a request without a token, as etcd's AuthInfoFromTLS.
request_cert_user: ContextVar[str] = ContextVar("petcd_request_cert_user", default="")

_LETTERS = string.ascii_lowercase + string.ascii_uppercase
_TOKEN_PREFIX_LETTERS = 16
_AUTHENTICATE_ATTEMPTS = 3


def _err(e: EtcdError) -> EtcdError:
    return EtcdError(e.code, e.message)


@contextlib.contextmanager
def internal():
    """Run the block as the member itself (no identity; nothing is checked)."""
    reset = request_token.set(None)
    try:
        yield
    finally:
        request_token.reset(reset)


class TokenStore:
    """Simple tokens: token -> [user, expiry on the monotonic clock]."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._tokens: dict[str, list] = {}

    def __len__(self) -> int:
        return len(self._tokens)

    def assign(self, token: str, user: str) -> None:
        self._tokens[token] = [user, time.monotonic() + self.ttl_s]

    def user_of(self, token: str) -> str | None:
        """The token's user (its life starts again), or None if unknown or expired."""
        entry = self._tokens.get(token)
        if entry is None:
            return None
        now = time.monotonic()
        if entry[1] < now:
            del self._tokens[token]
            return None
        entry[1] = now + self.ttl_s
        return entry[0]

    def invalidate(self, users) -> None:
        users = set(users)
        for token in [t for t, (u, _) in self._tokens.items() if u in users]:
            del self._tokens[token]

    def reset(self) -> None:
        self._tokens.clear()

    def sweep(self) -> None:
        now = time.monotonic()
        for token in [t for t, (_, exp) in self._tokens.items() if exp < now]:
            del self._tokens[token]


def _token_index(token: str) -> int | None:
    prefix, dot, index = token.rpartition(".")
    if not dot or not prefix or not index.isdigit():
        return None
    return int(index)


class AuthService:
    def __init__(self, service, reader, *, token_ttl_s: float, bcrypt_cost: int,
                 max_concurrent_authenticate: int, jwt: JwtTokens | None = None) -> None:
        """jwt: JWT tokens (jwt_tokens.py) instead of simple ones."""
        self.jwt = jwt
        self.service = service
        self.reader = reader
        self.enabled, self.revision = reader.auth_state()
        self.tokens = TokenStore(token_ttl_s)
        self.bcrypt_cost = bcrypt_cost
        self._max_bcrypt = max_concurrent_authenticate
        self._bcrypt: asyncio.Semaphore | None = None  # made on the loop
        # user -> (auth revision, User, UserPerms): read once per auth revision
        self._users: dict[str, tuple] = {}

    # -- inputs from apply ------------------------------------------------------------------------

    def on_applied(self, news: AuthApplied) -> None:
        self.enabled, self.revision = news.enabled, news.revision
        if news.reset:
            self.tokens.reset()
        self.tokens.invalidate(news.invalidated)
        for token, user in news.assigned:
            self.tokens.assign(token, user)
        self._users.clear()

    # -- who is asking -----------------------------------------------------------------------------

    async def identity(self) -> tuple[str | None, int]:
        """(user, auth revision) of the request being served: ("", 0) without a token, (None,
        0) for the member's own requests; an unknown token is etcd's invalid auth token."""
        token = request_token.get()
        if not token:
            cert_user = request_cert_user.get() if token is not None else ""
            if cert_user and self.enabled:
                return cert_user, self.revision
            return token, 0
        if self.jwt is not None:
            found = self.jwt.info(token)
            if found is None:
                raise _err(ErrInvalidAuthToken)
            return found
        user = self.tokens.user_of(token)
        if user is None:
            index = _token_index(token)
            applied = self.service.applied
            if index is None:
                raise _err(ErrInvalidAuthToken)
            if index > applied.index:  # given out by an entry this member has not applied
                try:
                    async with asyncio.timeout(self.service.request_timeout_s):
                        await applied.wait_for(index)
                except TimeoutError:
                    raise _err(ErrInvalidAuthToken) from None
                user = self.tokens.user_of(token)
            if user is None:
                raise _err(ErrInvalidAuthToken)
        return user, self.revision

    def _user(self, name: str):
        cached = self._users.get(name)
        if cached is not None and cached[0] == self.revision:
            return cached[1], cached[2]
        user, perms = self.reader.auth_user(name)
        self._users[name] = (self.revision, user, perms)
        return user, perms

    async def check(self, op: object) -> None:
        """A read's permissions (Range, a txn of ranges), after its read barrier."""
        if not self.enabled and not request_token.get():
            return
        user, revision = await self.identity()
        if user is None or not self.enabled:
            return
        self._permitted(user, revision, op)

    def _permitted(self, user: str, revision: int, op: object) -> None:
        """etcd's isOpPermitted, with auth on."""
        if revision == 0:
            raise _err(ErrUserEmpty)
        if revision < self.revision:  # a JWT given before the latest auth change
            raise _err(ErrAuthOldRevision)
        u, perms = self._user(user)
        if u is None:
            raise _err(ErrPermissionDenied)
        if not u.is_root and not auth_perm.op_allowed(perms, op):
            raise _err(ErrPermissionDenied)

    def watch_refusal(self, token: str, key: bytes, range_end: bytes,
                      cert_user: str = "") -> str | None:
        """The cancel reason of a watch on [key, range_end) made with `token` (or a client
        certificate naming `cert_user`), or None if it may watch (etcd's isWatchPermitted: a
        range read). The token must be known by now: the stream was opened with it."""
        if not self.enabled and not token:
            return None
        try:
            revision = self.revision
            if not token:
                user = cert_user
            elif self.jwt is not None:
                user, revision = self.jwt.info(token) or (None, 0)
            else:
                user = self.tokens.user_of(token)
            if user is None:
                raise _err(ErrInvalidAuthToken)
            if self.enabled:
                self._permitted(user, revision if user else 0,
                                RangeRequest(key=key, range_end=range_end))
        except EtcdError as e:
            code = "".join(w.capitalize() for w in e.code.name.split("_"))
            return f"rpc error: code = {code} desc = {e.message}"
        return None

    async def admin(self, raw: bool = False) -> str | None:
        """etcd's IsAdminPermitted before a root-only call; the caller's name. raw: the auth
        package's own error texts (code Unknown), as etcd's Maintenance RPCs give them."""
        try:
            if not self.enabled and not request_token.get():
                return None
            user, _ = await self.identity()
            if user is None or not self.enabled:
                return user
            if not user:
                raise _err(ErrUserEmpty)
            u, _ = self._user(user)
            if u is None:
                raise _err(ErrUserNotFound)
            if not u.is_root:
                raise _err(ErrPermissionDenied)
            return user
        except EtcdError as e:
            if raw and e in RAW_AUTH_ERRORS:
                raise _err(RAW_AUTH_ERRORS[e]) from None
            raise

    # -- passwords -----------------------------------------------------------------------------

    async def _bcrypt_call(self, fn, *args):
        if self._bcrypt is None:
            self._bcrypt = asyncio.Semaphore(self._max_bcrypt)
        async with self._bcrypt:
            return await asyncio.to_thread(fn, *args)

    async def _hash(self, password: str) -> bytes:
        try:
            return await self._bcrypt_call(
                lambda: bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.bcrypt_cost)))
        except ValueError:  # over bcrypt's 72 bytes
            raise EtcdError(Code.UNKNOWN, "bcrypt: password length exceeds 72 bytes") from None

    async def _password_ok(self, password: str, hashed: bytes) -> bool:
        try:
            return await self._bcrypt_call(bcrypt.checkpw, password.encode(), hashed)
        except ValueError:
            return False

    # -- the Auth RPCs -------------------------------------------------------------------------

    def _header(self):
        return self.service.member.header(self.reader.current_revision())

    async def _change(self, op, response_cls):
        await self.service.write(op)
        return response_cls(self._header())

    async def auth_enable(self, req):
        return await self._change(AuthEnableRequest(), AuthEnableResponse)

    async def auth_disable(self, req):
        return await self._change(AuthDisableRequest(), AuthDisableResponse)

    async def authenticate(self, req) -> AuthenticateResponse:
        await self.service.linearizable_barrier()
        for _ in range(_AUTHENTICATE_ATTEMPTS):
            if not self.enabled:
                raise _err(ErrAuthNotEnabled)
            checked_revision = self.revision
            user, _ = self.reader.auth_user(req.name)
            if user is None:
                raise _err(ErrAuthFailed)
            if user.no_password:
                raise _err(ErrNoPasswordUser)
            if not await self._password_ok(req.password, user.password_hash):
                raise _err(ErrAuthFailed)
            if self.jwt is not None and not self.jwt.can_sign:
                raise EtcdError(Code.UNKNOWN,
                                "auth: token signing attempted with verify-only key")
            # A JWT is made here once the entry has applied; a simple token by apply, on
            # every member (an empty prefix asks for none).
            prefix = "" if self.jwt is not None else "".join(
                secrets.choice(_LETTERS) for _ in range(_TOKEN_PREFIX_LETTERS))
            result = await self.service.write(AuthAuthenticate(req.name, prefix))
            if self.revision == checked_revision:
                break  # else the password may have changed meanwhile: check it again
        token = result.token if self.jwt is None else self.jwt.assign(req.name, self.revision)
        return AuthenticateResponse(self._header(), token)

    async def user_add(self, req):
        await self.admin()  # before a bcrypt is spent on it (apply checks again)
        no_password = req.options is not None and req.options.no_password
        hashed = b"" if no_password or not req.name else await self._hash(req.password)
        return await self._change(AuthUserAdd(req.name, hashed, no_password),
                                  AuthUserAddResponse)

    async def user_change_password(self, req):
        await self.admin()
        hashed = await self._hash(req.password) if req.name else b""
        return await self._change(AuthUserChangePassword(req.name, hashed),
                                  AuthUserChangePasswordResponse)

    async def user_delete(self, req):
        return await self._change(req, AuthUserDeleteResponse)

    async def user_grant_role(self, req):
        return await self._change(req, AuthUserGrantRoleResponse)

    async def user_revoke_role(self, req):
        return await self._change(req, AuthUserRevokeRoleResponse)

    async def role_add(self, req):
        return await self._change(req, AuthRoleAddResponse)

    async def role_delete(self, req):
        return await self._change(req, AuthRoleDeleteResponse)

    async def role_grant_permission(self, req):
        return await self._change(req, AuthRoleGrantPermissionResponse)

    async def role_revoke_permission(self, req):
        return await self._change(req, AuthRoleRevokePermissionResponse)

    # Reads: etcd 3.4 sends them through raft; a read barrier gives the same guarantee here.

    async def user_get(self, req) -> AuthUserGetResponse:
        await self.service.linearizable_barrier()
        try:
            await self.admin()
        except EtcdError:
            user, _ = await self.identity()
            if req.name != user:  # a user may read itself
                raise
        u, _ = self.reader.auth_user(req.name)
        if u is None:
            raise _err(ErrUserNotFound)
        return AuthUserGetResponse(self._header(), u.roles)

    async def user_list(self, req) -> AuthUserListResponse:
        await self.service.linearizable_barrier()
        await self.admin()
        return AuthUserListResponse(self._header(), self.reader.auth_users())

    async def role_get(self, req) -> AuthRoleGetResponse:
        await self.service.linearizable_barrier()
        try:
            await self.admin()
        except EtcdError:
            user, _ = await self.identity()
            u, _ = self._user(user) if user else (None, None)
            if u is None or req.role not in u.roles:  # a user may read its own roles
                raise
        perms = self.reader.auth_role(req.role)
        if perms is None:
            raise _err(ErrRoleNotFound)
        return AuthRoleGetResponse(self._header(), perms)

    async def role_list(self, req) -> AuthRoleListResponse:
        await self.service.linearizable_barrier()
        await self.admin()
        return AuthRoleListResponse(self._header(), self.reader.auth_roles())

