"""The auth store (etcd's auth/store.go): users, roles, the enabled flag and the auth revision,
kept in the LMDB `auth` table so that they are replicated (applied from the raft log),
persisted with the data, and carried by snapshots.

Layout of the `auth` table (one LMDB database, keys by prefix):
  b"\\0enabled"   -> b"\\1" or b"\\0"
  b"\\0revision"  -> the auth revision, 8 bytes big-endian
  b"u" + name    -> msgpack [password hash, [role, ...] sorted, no_password]
  b"r" + name    -> msgpack [[perm type, key, range_end], ...] sorted by key

Theory of operation. `change()` applies one auth request inside apply's write transaction with
etcd 3.4's rules and errors; every successful change but Authenticate bumps the revision, as
etcd's commitRevision does (AuthEnable does not: it only sets the flag). The read functions
take any transaction, so the api's readers use them too. `check()` is the permission check of
a request carried by an entry (the user and the auth revision the api saw when it read the
token), done at apply time as etcd's authApplierV3 does, so a permission revoked before the
entry applies is honoured.

Must never: store a password; let `check` pass a request from a stale auth revision.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

import msgpack

from petcd.common import auth_perm
from petcd.common.auth import (
    ROOT_ROLE, ROOT_USER, AuthDisableRequest, AuthEnableRequest, AuthRoleAddRequest,
    AuthRoleDeleteRequest, AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest,
    AuthUserAdd, AuthUserChangePassword, AuthUserDeleteRequest, AuthUserGrantRoleRequest,
    AuthUserRevokeRoleRequest, PermType, Permission,
)
from petcd.common.errors import (
    ErrAuthOldRevision, ErrInvalidAuthMgmt, ErrPermissionDenied, ErrPermissionNotGiven,
    ErrPermissionNotGranted, ErrRoleAlreadyExist, ErrRoleEmpty, ErrRoleNotFound,
    ErrRoleNotGranted, ErrRootRoleNotExist, ErrRootUserNotExist, ErrUserAlreadyExist,
    ErrUserEmpty, ErrUserNotFound, EtcdError,
)

_ENABLED = b"\0enabled"
_REVISION = b"\0revision"
_U64 = struct.Struct(">Q")


class User(NamedTuple):
    name: str
    password_hash: bytes
    roles: tuple[str, ...]
    no_password: bool

    @property
    def is_root(self) -> bool:
        return ROOT_ROLE in self.roles


def _err(e: EtcdError) -> EtcdError:
    return EtcdError(e.code, e.message)


# --- reads (any transaction) -----------------------------------------------------------------

def enabled(txn, db) -> bool:
    return txn.get(_ENABLED, db=db) == b"\1"


def revision(txn, db) -> int:
    raw = txn.get(_REVISION, db=db)
    return _U64.unpack(raw)[0] if raw else 0


def get_user(txn, db, name: str) -> User | None:
    raw = txn.get(b"u" + name.encode(), db=db)
    if raw is None:
        return None
    password_hash, roles, no_password = msgpack.unpackb(raw, use_list=False)
    return User(name, password_hash, tuple(roles), no_password)


def get_role(txn, db, name: str) -> tuple[Permission, ...] | None:
    raw = txn.get(b"r" + name.encode(), db=db)
    if raw is None:
        return None
    return tuple(Permission(PermType(t), k, e) for t, k, e in msgpack.unpackb(raw))


def _names(txn, db, prefix: bytes) -> tuple[str, ...]:
    out = []
    cur = txn.cursor(db=db)
    if cur.set_range(prefix):
        for k in cur.iternext(keys=True, values=False):
            if not k.startswith(prefix):
                break
            out.append(k[1:].decode())
    return tuple(out)


def users(txn, db) -> tuple[str, ...]:
    return _names(txn, db, b"u")


def roles(txn, db) -> tuple[str, ...]:
    return _names(txn, db, b"r")


def user_perms(txn, db, user: User) -> auth_perm.UserPerms:
    perms = []
    for role in user.roles:
        perms.extend(get_role(txn, db, role) or ())
    return auth_perm.merge(perms)


# --- permission checks -----------------------------------------------------------------------

def admin_check(txn, db, user: str) -> None:
    """etcd's IsAdminPermitted: nothing to check with auth off; else the root role."""
    if not enabled(txn, db):
        return
    if not user:
        raise _err(ErrUserEmpty)
    u = get_user(txn, db, user)
    if u is None:
        raise _err(ErrUserNotFound)
    if not u.is_root:
        raise _err(ErrPermissionDenied)


class PermCache:
    """Users and their merged permissions as of one auth revision (any change of users or
    roles bumps the revision, which empties the cache)."""

    def __init__(self) -> None:
        self.revision = -1
        self.users: dict[str, tuple] = {}

    def get(self, txn, db, name: str, current_revision: int):
        if current_revision != self.revision:
            self.revision, self.users = current_revision, {}
        found = self.users.get(name)
        if found is None:
            u = get_user(txn, db, name)
            found = self.users[name] = (u, None if u is None else user_perms(txn, db, u))
        return found


def _perms_to_check(txn, db, user: str, auth_revision: int, cache: PermCache | None):
    """etcd's isOpPermitted up to the key checks: the user's permissions, None for root (or
    with auth off: nothing to check), or etcd's error."""
    if not enabled(txn, db):
        return None
    if auth_revision == 0:
        raise _err(ErrUserEmpty)
    current = revision(txn, db)
    if auth_revision < current:
        raise _err(ErrAuthOldRevision)
    u, perms = (cache or PermCache()).get(txn, db, user, current)
    if u is None:
        raise _err(ErrPermissionDenied)
    return None if u.is_root else perms


def check(txn, db, user: str, auth_revision: int, op: object, lease_keys=None,
          cache: PermCache | None = None) -> None:
    """Raise etcd's error unless `user` (as of `auth_revision`) may do `op`; lease_keys(id):
    the keys attached to a lease, for a put that attaches one and for a lease revoke."""
    perms = _perms_to_check(txn, db, user, auth_revision, cache)
    if perms is None:
        return
    if not auth_perm.op_allowed(perms, op):
        raise _err(ErrPermissionDenied)
    if lease_keys is not None:
        for lease in auth_perm.leases_of(op):
            for key in lease_keys(lease):
                if not auth_perm.allowed(perms, key, b"", True):
                    raise _err(ErrPermissionDenied)


def check_lease_revoke(txn, db, user: str, auth_revision: int, keys) -> None:
    """A lease revoke deletes the lease's keys: the user must be able to write every one (so
    a lease without keys may be revoked by anyone, as in etcd)."""
    if not keys:
        return
    perms = _perms_to_check(txn, db, user, auth_revision, None)
    if perms is None:
        return
    for key in keys:
        if not auth_perm.allowed(perms, key, b"", True):
            raise _err(ErrPermissionDenied)


# --- changes (apply's write transaction) -----------------------------------------------------

def _put_user(txn, db, u: User) -> None:
    txn.put(b"u" + u.name.encode(),
            msgpack.packb([u.password_hash, sorted(u.roles), u.no_password]), db=db)


def _put_role(txn, db, name: str, perms) -> None:
    txn.put(b"r" + name.encode(),
            msgpack.packb([[int(p.permType), p.key, p.range_end] for p in perms]), db=db)


def _bump(txn, db) -> None:
    txn.put(_REVISION, _U64.pack(revision(txn, db) + 1), db=db)


def init(txn, db) -> None:
    """A new store starts at auth revision 1 (etcd's NewAuthStore)."""
    if txn.get(_REVISION, db=db) is None:
        _bump(txn, db)


class Changed(NamedTuple):
    """What a change means for tokens: users whose tokens die, and whether all die."""
    invalidated: tuple[str, ...] = ()
    reset: bool = False


def change(txn, db, op: object) -> Changed:
    """Apply one auth change with etcd's rules; raise etcd's error if it is refused."""
    on = enabled(txn, db)
    if isinstance(op, AuthEnableRequest):
        if on:
            return Changed()
        root = get_user(txn, db, ROOT_USER)
        if root is None:
            raise _err(ErrRootUserNotExist)
        if not root.is_root:
            raise _err(ErrRootRoleNotExist)
        txn.put(_ENABLED, b"\1", db=db)
        return Changed(reset=True)
    if isinstance(op, AuthDisableRequest):
        if not on:
            return Changed()
        txn.put(_ENABLED, b"\0", db=db)
        _bump(txn, db)
        return Changed(reset=True)
    if isinstance(op, AuthUserAdd):
        if not op.name:
            raise _err(ErrUserEmpty)
        if get_user(txn, db, op.name) is not None:
            raise _err(ErrUserAlreadyExist)
        _put_user(txn, db, User(op.name, op.password_hash, (), op.no_password))
    elif isinstance(op, AuthUserDeleteRequest):
        if on and op.name == ROOT_USER:
            raise _err(ErrInvalidAuthMgmt)
        if not txn.delete(b"u" + op.name.encode(), db=db):
            raise _err(ErrUserNotFound)
        _bump(txn, db)
        return Changed(invalidated=(op.name,))
    elif isinstance(op, AuthUserChangePassword):
        u = get_user(txn, db, op.name)
        if u is None:
            raise _err(ErrUserNotFound)
        _put_user(txn, db, u._replace(password_hash=op.password_hash))
        _bump(txn, db)
        return Changed(invalidated=(op.name,))
    elif isinstance(op, AuthUserGrantRoleRequest):
        u = get_user(txn, db, op.user)
        if u is None:
            raise _err(ErrUserNotFound)
        if op.role != ROOT_ROLE and get_role(txn, db, op.role) is None:
            raise _err(ErrRoleNotFound)
        if op.role in u.roles:
            return Changed()  # etcd ignores it, and the revision stays
        _put_user(txn, db, u._replace(roles=tuple(sorted((*u.roles, op.role)))))
    elif isinstance(op, AuthUserRevokeRoleRequest):
        if on and op.name == ROOT_USER and op.role == ROOT_ROLE:
            raise _err(ErrInvalidAuthMgmt)
        u = get_user(txn, db, op.name)
        if u is None:
            raise _err(ErrUserNotFound)
        if op.role not in u.roles:
            raise _err(ErrRoleNotGranted)
        _put_user(txn, db, u._replace(roles=tuple(r for r in u.roles if r != op.role)))
    elif isinstance(op, AuthRoleAddRequest):
        if not op.name:
            raise _err(ErrRoleEmpty)
        if get_role(txn, db, op.name) is not None:
            raise _err(ErrRoleAlreadyExist)
        _put_role(txn, db, op.name, ())
    elif isinstance(op, AuthRoleDeleteRequest):
        if on and op.role == ROOT_ROLE:
            raise _err(ErrInvalidAuthMgmt)
        if not txn.delete(b"r" + op.role.encode(), db=db):
            raise _err(ErrRoleNotFound)
        for name in users(txn, db):
            u = get_user(txn, db, name)
            if op.role in u.roles:
                _put_user(txn, db, u._replace(roles=tuple(r for r in u.roles if r != op.role)))
    elif isinstance(op, AuthRoleGrantPermissionRequest):
        perms = get_role(txn, db, op.name)
        if perms is None:
            raise _err(ErrRoleNotFound)
        if op.perm is None:
            raise _err(ErrPermissionNotGiven)
        _put_role(txn, db, op.name, _granted(list(perms), op.perm))
    elif isinstance(op, AuthRoleRevokePermissionRequest):
        perms = get_role(txn, db, op.role)
        if perms is None:
            raise _err(ErrRoleNotFound)
        kept = [p for p in perms if (p.key, p.range_end) != (op.key, op.range_end)]
        if len(kept) == len(perms):
            raise _err(ErrPermissionNotGranted)
        _put_role(txn, db, op.role, kept)
    else:
        raise TypeError(f"not an auth change: {type(op).__name__}")
    _bump(txn, db)
    return Changed()


def _granted(perms: list[Permission], new: Permission) -> list[Permission]:
    """etcd's RoleGrantPermission: the first permission whose key is not below the new one's
    is updated if it has the same key and range_end; else the new one is added, in key order."""
    idx = next((i for i, p in enumerate(perms) if p.key >= new.key), len(perms))
    if idx < len(perms) and perms[idx].key == new.key and perms[idx].range_end == new.range_end:
        perms[idx] = Permission(new.permType, new.key, new.range_end)
        return perms
    perms.append(Permission(new.permType, new.key, new.range_end))
    perms.sort(key=lambda p: p.key)
    return perms
