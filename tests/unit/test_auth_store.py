"""The auth store on LMDB (stages/apply/auth_store.py): etcd 3.4's rules and errors."""
import lmdb
import pytest

from petcd.common import auth
from petcd.common.auth import PermType, Permission
from petcd.common.errors import (
    ErrAuthOldRevision, ErrInvalidAuthMgmt, ErrPermissionDenied, ErrPermissionNotGiven,
    ErrRoleNotGranted, ErrRootRoleNotExist, ErrRootUserNotExist, ErrUserEmpty, ErrUserNotFound,
    EtcdError,
)
from petcd.common.kv import PutRequest, RangeRequest
from petcd.stages.apply import auth_store


@pytest.fixture
def txn(tmp_path):
    env = lmdb.open(str(tmp_path), max_dbs=2)
    db = env.open_db(b"auth")
    t = env.begin(write=True)
    yield t, db
    t.abort()
    env.close()


def raises(e: EtcdError, fn, *args):
    with pytest.raises(EtcdError) as info:
        fn(*args)
    assert info.value == e


def setup_root(t, db):
    auth_store.change(t, db, auth.AuthUserAdd("root", b"h", False))
    auth_store.change(t, db, auth.AuthRoleAddRequest("root"))
    auth_store.change(t, db, auth.AuthUserGrantRoleRequest("root", "root"))


def test_enable_needs_root_with_the_root_role(txn):
    t, db = txn
    raises(ErrRootUserNotExist, auth_store.change, t, db, auth.AuthEnableRequest())
    auth_store.change(t, db, auth.AuthUserAdd("root", b"h", False))
    raises(ErrRootRoleNotExist, auth_store.change, t, db, auth.AuthEnableRequest())
    # root may be granted the root role before the role exists (etcd's exception)
    auth_store.change(t, db, auth.AuthUserGrantRoleRequest("root", "root"))
    assert auth_store.change(t, db, auth.AuthEnableRequest()).reset
    assert auth_store.enabled(t, db)


def test_revision_bumps_on_changes_not_on_no_ops(txn):
    t, db = txn
    setup_root(t, db)
    rev = auth_store.revision(t, db)
    auth_store.change(t, db, auth.AuthUserGrantRoleRequest("root", "root"))  # already granted
    assert auth_store.revision(t, db) == rev
    auth_store.change(t, db, auth.AuthEnableRequest())  # enabling does not bump (etcd)
    assert auth_store.revision(t, db) == rev
    auth_store.change(t, db, auth.AuthRoleAddRequest("r"))
    assert auth_store.revision(t, db) == rev + 1


def test_root_is_protected_only_while_enabled(txn):
    t, db = txn
    setup_root(t, db)
    auth_store.change(t, db, auth.AuthEnableRequest())
    raises(ErrInvalidAuthMgmt, auth_store.change, t, db, auth.AuthUserDeleteRequest("root"))
    raises(ErrInvalidAuthMgmt, auth_store.change, t, db,
           auth.AuthUserRevokeRoleRequest("root", "root"))
    raises(ErrInvalidAuthMgmt, auth_store.change, t, db, auth.AuthRoleDeleteRequest("root"))
    auth_store.change(t, db, auth.AuthDisableRequest())
    auth_store.change(t, db, auth.AuthUserRevokeRoleRequest("root", "root"))
    raises(ErrRoleNotGranted, auth_store.change, t, db,
           auth.AuthUserRevokeRoleRequest("root", "root"))


def test_grants_merge_by_key_and_range_and_sort_by_key(txn):
    t, db = txn
    auth_store.change(t, db, auth.AuthRoleAddRequest("r"))
    for p in (Permission(PermType.READ, b"b", b"c"), Permission(PermType.WRITE, b"a", b""),
              Permission(PermType.READWRITE, b"b", b"c")):
        auth_store.change(t, db, auth.AuthRoleGrantPermissionRequest("r", p))
    assert auth_store.get_role(t, db, "r") == (Permission(PermType.WRITE, b"a", b""),
                                               Permission(PermType.READWRITE, b"b", b"c"))
    raises(ErrPermissionNotGiven, auth_store.change, t, db,
           auth.AuthRoleGrantPermissionRequest("r", None))


def test_deleting_a_role_takes_it_from_its_users(txn):
    t, db = txn
    auth_store.change(t, db, auth.AuthUserAdd("u", b"h", False))
    auth_store.change(t, db, auth.AuthRoleAddRequest("r"))
    auth_store.change(t, db, auth.AuthUserGrantRoleRequest("u", "r"))
    auth_store.change(t, db, auth.AuthRoleDeleteRequest("r"))
    assert auth_store.get_user(t, db, "u").roles == ()
    assert auth_store.users(t, db) == ("u",) and auth_store.roles(t, db) == ()


def test_a_deleted_or_repassworded_user_loses_its_tokens(txn):
    t, db = txn
    auth_store.change(t, db, auth.AuthUserAdd("u", b"h", False))
    assert auth_store.change(t, db, auth.AuthUserChangePassword("u", b"h2")).invalidated == ("u",)
    assert auth_store.get_user(t, db, "u").password_hash == b"h2"
    assert auth_store.change(t, db, auth.AuthUserDeleteRequest("u")).invalidated == ("u",)
    raises(ErrUserNotFound, auth_store.change, t, db, auth.AuthUserDeleteRequest("u"))


def test_check_follows_etcds_order_of_errors(txn):
    t, db = txn
    setup_root(t, db)
    auth_store.change(t, db, auth.AuthUserAdd("u", b"h", False))
    auth_store.change(t, db, auth.AuthRoleAddRequest("r"))
    auth_store.change(t, db, auth.AuthRoleGrantPermissionRequest(
        "r", Permission(PermType.READWRITE, b"k", b"")))
    auth_store.change(t, db, auth.AuthUserGrantRoleRequest("u", "r"))
    put = PutRequest(key=b"k")
    auth_store.check(t, db, "", 0, PutRequest(key=b"x"))  # auth off: anything goes
    auth_store.change(t, db, auth.AuthEnableRequest())
    rev = auth_store.revision(t, db)
    raises(ErrUserEmpty, auth_store.check, t, db, "", 0, put)
    raises(ErrAuthOldRevision, auth_store.check, t, db, "u", rev - 1, put)
    auth_store.check(t, db, "u", rev, put)
    raises(ErrPermissionDenied, auth_store.check, t, db, "u", rev, PutRequest(key=b"x"))
    raises(ErrPermissionDenied, auth_store.check, t, db, "nosuch", rev, put)
    auth_store.check(t, db, "root", rev, RangeRequest(key=b"\0", range_end=b"\0"))
    # a put attaching a lease whose other keys the user may not write
    raises(ErrPermissionDenied, auth_store.check, t, db, "u", rev,
           PutRequest(key=b"k", lease=5), lambda lease: [b"other"])
    auth_store.check_lease_revoke(t, db, "", 0, [])  # a lease without keys: anyone
    raises(ErrUserEmpty, auth_store.check_lease_revoke, t, db, "", 0, [b"k"])
    raises(ErrUserNotFound, auth_store.admin_check, t, db, "nosuch")
    raises(ErrPermissionDenied, auth_store.admin_check, t, db, "u")
    auth_store.admin_check(t, db, "root")
