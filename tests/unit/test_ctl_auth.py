"""petcdctl's auth, user and role commands' pure parts against etcdctl 3.4's
auth_command.go, user_command.go, role_command.go and printers: how role get prints
permissions, the ranges grant-permission and revoke-permission make from their arguments,
what revoke-permission says, the password read from stdin, --user and --password, pflag's
valued bool flags, and the error texts clientv3 shows. No server."""
from __future__ import annotations

import pytest

from petcd.client import errors
from petcd.common.auth import AuthRoleGetResponse, AuthUserListResponse, Permission, PermType
from petcd.common.kv import ResponseHeader
from petcd.ctl import arg_errors
from petcd.ctl.cli import EXIT_BAD_ARGS, Ctx, CtlExit, _load_commands, error_text, run

_load_commands()
from petcd.ctl.cmd_auth import (  # noqa: E402  (after the commands load)
    fields_role, perm_range, protobuf, revoked_text, scan_word, simple_perm, simple_role,
    user_add,
)

R, W, RW = PermType.READ, PermType.WRITE, PermType.READWRITE


def test_role_get_prints_keys_ranges_open_ends_and_prefixes():
    assert simple_perm(Permission(R, b"foo")) == "\tfoo\n"
    assert simple_perm(Permission(R, b"a", b"c")) == "\t[a, c)\n"
    assert simple_perm(Permission(R, b"x", b"\x00")) == "\t[x, <open ended>\n"
    assert simple_perm(Permission(W, b"p/", b"p0")) == "\t[p/, p0) (prefix p/)\n"
    # a prefix of 0xff bytes has no end: open ended, and still a prefix
    assert simple_perm(Permission(R, b"\xff", b"\x00")) == \
        "\t[\udcff, <open ended> (prefix \udcff)\n"
    # etcdctl's empty key ("\x00") with --prefix: every key
    assert simple_perm(Permission(R, b"\x00", b"\x00")) == "\t[\x00, <open ended>\n"


def test_role_get_lists_readable_then_writable_ranges():
    perms = (Permission(R, b"a", b"c"), Permission(W, b"p/", b"p0"),
             Permission(RW, b"x", b"\x00"))
    assert simple_role("r2", perms) == (
        "Role r2\nKV Read:\n\t[a, c)\n\t[x, <open ended>\n"
        "KV Write:\n\t[p/, p0) (prefix p/)\n\t[x, <open ended>\n")
    assert simple_role("r", ()) == "Role r\nKV Read:\nKV Write:\n"


def test_role_get_fields():
    perms = (Permission(R, b"\x00", b"\x00"), Permission(W, b"k"), Permission(RW, b"a\xffb"))
    assert fields_role(perms) == (
        '"PermType" :  READ\n"Key" : "\\x00"\n"RangeEnd" : "\\x00"\n'
        '"PermType" :  WRITE\n"Key" : "k"\n"RangeEnd" : ""\n'
        '"PermType" :  READWRITE\n"Key" : "a\\xffb"\n"RangeEnd" : ""\n')


def test_protobuf_is_etcds_message():
    from petcd.common.proto import rpc_pb2
    resp = AuthRoleGetResponse(ResponseHeader(1, 2, 3, 4), (Permission(W, b"a", b"c"),))
    got = rpc_pb2.AuthRoleGetResponse.FromString(protobuf(resp))
    assert (got.header.cluster_id, got.header.raft_term) == (1, 4)
    assert (got.perm[0].permType, got.perm[0].key, got.perm[0].range_end) == (1, b"a", b"c")
    assert rpc_pb2.AuthUserListResponse.FromString(
        protobuf(AuthUserListResponse(None, ("a", "b")))).users == ["a", "b"]


@pytest.mark.parametrize("args, prefix, from_key, want", [
    (["foo"], False, False, (b"foo", b"")),
    (["a", "c"], False, False, (b"a", b"c")),
    (["p/"], True, False, (b"p/", b"p0")),
    (["x"], False, True, (b"x", b"\x00")),
    (["\udcff"], True, False, (b"\xff", b"\x00")),
    ([""], False, False, (b"\x00", b"")),
    ([""], True, False, (b"\x00", b"\x00")),
    ([""], False, True, (b"\x00", b"\x00")),
    (["", "z"], False, False, (b"\x00", b"")),  # the end key is ignored after an empty key
    (["a", "c", "extra"], False, False, (b"a", b"c")),
])
def test_permission_ranges(args, prefix, from_key, want):
    assert perm_range(args, prefix, from_key) == want


@pytest.mark.parametrize("args, prefix, from_key, message", [
    (["k"], True, True, "--from-key and --prefix flags are mutually exclusive"),
    ([""], True, True, "--from-key and --prefix flags are mutually exclusive"),
    (["k", "e"], True, False, "unexpected endkey argument with --prefix flag"),
    (["k", "e"], False, True, "unexpected endkey argument with --from-key flag"),
])
def test_permission_range_refusals(args, prefix, from_key, message):
    with pytest.raises(CtlExit) as info:
        perm_range(args, prefix, from_key)
    assert (info.value.code, info.value.message) == (EXIT_BAD_ARGS, message)


def test_revoke_permission_says_what_went():
    assert revoked_text("r1", "foo", b"") == "Permission of key foo is revoked from role r1\n"
    assert revoked_text("r2", "a", b"c") == "Permission of range [a, c) is revoked from role r2\n"
    assert revoked_text("r", "x", b"\x00") == \
        "Permission of range [x, <open ended> is revoked from role r\n"


def _reader(data: bytes):
    left = bytearray(data)

    def read_byte() -> bytes:
        if not left:
            return b""
        return bytes([left.pop(0)])
    return read_byte, left


@pytest.mark.parametrize("stdin, word, rest", [
    (b"pw\nnext", "pw", b"next"),
    (b"  pw  x\n", "pw", b" x\n"),
    (b"pw", "pw", b""),
    (b"\npw\n", "", b"pw\n"),
    (b"", "", b""),
])
def test_password_from_stdin_is_scanfs_word(stdin, word, rest):
    read_byte, left = _reader(stdin)
    assert scan_word(read_byte) == word
    assert bytes(left) == rest


def _ctx(user: str, password: str = "") -> Ctx:
    return Ctx({"write_out": "simple", "hex": False, "dial_timeout": "2s",
                "command_timeout": "5s", "endpoints": "127.0.0.1:1", "user": user,
                "password": password})


def test_user_and_password_flags():
    assert _ctx("").credentials() == ("", "")
    assert _ctx("", "pw").credentials() == ("", "")  # --password alone is ignored
    assert _ctx("alice:apw").credentials() == ("alice", "apw")
    assert _ctx("alice:a:b").credentials() == ("alice", "a:b")
    assert _ctx("alice:").credentials() == ("alice", "")  # no password: no login
    # with --password, all of --user is the name
    assert _ctx("alice:apw", "pw").credentials() == ("alice:apw", "pw")
    assert _ctx("alice", "pw").credentials() == ("alice", "pw")


def test_user_without_password_is_asked_once(monkeypatch):
    asked = []
    monkeypatch.setattr("petcd.ctl.cli.ask_password", lambda p: asked.append(p) or "pw")
    ctx = _ctx("alice")
    assert ctx.credentials() == ("alice", "pw")
    assert ctx.credentials() == ("alice", "pw")
    assert asked == ["Password: "]


def test_bool_flags_take_pflags_values():
    params = user_add.params
    assert arg_errors.pflag_bools(params, ["u", "--interactive"]) == (["u", "--interactive"], {})
    assert arg_errors.pflag_bools(params, ["u", "--interactive=false"]) == \
        (["u"], {"interactive": False})
    assert arg_errors.pflag_bools(params, ["--no-password=T", "u"]) == \
        (["u"], {"no_password": True})
    # the last mention wins
    assert arg_errors.pflag_bools(params, ["--interactive=0", "u", "--interactive"]) == \
        (["u"], {"interactive": True})
    # not a bool flag, or after --: left alone
    assert arg_errors.pflag_bools(params, ["--new-user-password=x", "u"]) == \
        (["--new-user-password=x", "u"], {})
    assert arg_errors.pflag_bools(params, ["u", "--", "--interactive=false"]) == \
        (["u", "--", "--interactive=false"], {})
    with pytest.raises(arg_errors.PflagError) as info:
        arg_errors.pflag_bools(params, ["--interactive=maybe"])
    assert arg_errors.flag_error(info.value) == (
        'invalid argument "maybe" for "--interactive" flag: strconv.ParseBool: parsing '
        '"maybe": invalid syntax')


def test_argument_errors_come_before_any_connection(capsys):
    # the endpoint answers nothing: these must fail on their arguments alone
    for args, message in [
        (["user", "add"], "user add command requires user name as its argument"),
        (["user", "add", ":pw"], "empty user name is not allowed"),
        (["user", "grant-role", "u"],
         "user grant command requires user name and role name as its argument"),
        (["role", "grant-permission", "r", "bogus", "k"], "invalid permission type: bogus"),
        (["role", "revoke-permission", "r"],
         "role revoke-permission command requires role name and key [endkey] as its argument"),
        (["auth", "enable", "x"], "auth enable command does not accept any arguments"),
    ]:
        assert run(["--endpoints", "127.0.0.1:1", *args]) == EXIT_BAD_ARGS, args
        assert capsys.readouterr().err == f"Error: {message}\n"


def test_errors_read_as_clientv3_shows_them():
    assert error_text(errors.FailedPrecondition("etcdserver: user name not found")) == \
        "etcdserver: user name not found"
    # the auth package's own texts are not etcd errors to clientv3: a gRPC status
    assert error_text(errors.Unknown("auth: permission denied")) == \
        "rpc error: code = Unknown desc = auth: permission denied"
