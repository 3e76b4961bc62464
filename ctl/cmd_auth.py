"""auth enable|disable, user add|delete|get|list|passwd|grant-role|revoke-role, role add|delete|
get|list|grant-permission|revoke-permission: etcdctl's commands for etcd's users, roles and
authentication.

Theory of operation: each command checks its arguments (ExitBadArgs with etcdctl's words),
asks for a password if it needs one, makes the client (which logs in with --user, ctl/cli.py),
makes its call and prints the answer; a refused call is `Error: <etcd's message>`, exit 1.
Answers print as etcdctl's printers do: simple, json and protobuf (etcd's message, encoded)
for all; fields for all but user get and user list; table for none (auth enable and disable
print their line whatever the format). The change is made before the answer is printed, so
a format without a printer fails after it, with ExitBadFeature, as in etcdctl. Passwords
come from a flag, from `name:password`, from a prompt asked twice (`--interactive`, the
default), or as one word from stdin (`--interactive=false`). `auth enable` creates the root
role and grants it to root when the server answers that root lacks it, then tries again;
`user get --detail` shows each of the user's roles as `role get` does. A permission's range
is etcdctl's: one key, [key, endkey), a prefix, or from a key on; an empty key means
"\\x00", so `--prefix` or `--from-key` with it covers every key.
"""
from __future__ import annotations

import sys

import click

from petcd.client import errors
from petcd.common.auth import ROOT_ROLE, ROOT_USER, PermType
from petcd.common.kv import FROM_KEY, prefix_end

from . import display as d
from .cli import (EXIT_BAD_ARGS, EXIT_BAD_FEATURE, CtlExit, ask_password, ctl, out,
                  stdin_byte)

BOOL = dict(is_flag=True, default=False)
ROOT_ROLE_NOT_EXIST = "etcdserver: root user does not have root role"


def _bytes(arg: str) -> bytes:
    """A command line word as the bytes the user typed."""
    return arg.encode("utf-8", "surrogateescape")


def _need(args, n: int, message: str, at_least: bool = False) -> None:
    if len(args) < n if at_least else len(args) != n:
        raise CtlExit(EXIT_BAD_ARGS, message)


# -- output -------------------------------------------------------------------------------

def _show(ctx, resp, simple: str, fields: str | None = "") -> None:
    """Print an Auth answer in the chosen format; `fields` is what follows the header in
    the fields format, None where etcdctl has no fields printer for the answer."""
    w = ctx.write_out
    if w == "simple":
        out(simple)
    elif w == "json":
        out(d.to_json(d.etcdctl_json(resp)) + "\n")
    elif w == "fields" and fields is not None:
        out(d.fields_hdr(resp.header) + fields)
    elif w == "protobuf":
        out_bytes(protobuf(resp))
    else:
        raise CtlExit(EXIT_BAD_FEATURE, f"{w} not supported as output format")


def protobuf(resp) -> bytes:
    """The answer as etcd's protobuf message, serialized (etcdctl prints it raw)."""
    from petcd.common.proto import rpc_pb2
    from petcd.common.proto.convert import encoder
    pb_cls = getattr(rpc_pb2, type(resp).__name__)
    return encoder(type(resp), pb_cls)(resp).SerializeToString()


def out_bytes(b: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(b)
    sys.stdout.buffer.flush()


def simple_perm(p) -> str:
    """One permission of `role get`: a key, or a range with `<open ended>` for a range to the
    end of the key space and the prefix it stands for when it is one."""
    key = d.text(p.key)
    if not p.range_end:
        return f"\t{key}\n"
    end = "<open ended>" if p.range_end == FROM_KEY else f"{d.text(p.range_end)})"
    s = f"\t[{key}, {end}"
    if prefix_end(p.key) == p.range_end:
        s += f" (prefix {key})"
    return s + "\n"


def simple_role(role: str, perms) -> str:
    """`role get` in the simple format: the readable ranges, then the writable ones."""
    reads = (PermType.READ, PermType.READWRITE)
    writes = (PermType.WRITE, PermType.READWRITE)
    return (f"Role {role}\nKV Read:\n"
            + "".join(simple_perm(p) for p in perms if p.permType in reads)
            + "KV Write:\n"
            + "".join(simple_perm(p) for p in perms if p.permType in writes))


def fields_role(perms) -> str:
    # etcdctl's Println puts a second space after the colon here
    return "".join(f'"PermType" :  {_perm_name(p.permType)}\n'
                   f'"Key" : {d.go_quote(d.text(p.key))}\n'
                   f'"RangeEnd" : {d.go_quote(d.text(p.range_end))}\n' for p in perms)


def _perm_name(t) -> str:
    try:
        return PermType(t).name
    except ValueError:
        return str(int(t))  # the proto enum's String() of an unknown number


def _show_role(ctx, role: str, resp) -> None:
    _show(ctx, resp, simple_role(role, resp.perm), fields_role(resp.perm))


# -- reading passwords --------------------------------------------------------------------

def scan_word(read_byte=stdin_byte) -> str:
    """What Go's fmt.Scanf("%s") leaves in a string: the first word on stdin's first line,
    "" when the line (or the input) holds none. Read a byte at a time, as Go reads an
    unbuffered stdin."""
    word = bytearray()
    while True:
        b = read_byte()
        if not b or b == b"\n":
            break
        if b in b" \t\r\v\f":
            if word:
                break
            continue
        word += b
    return word.decode("utf-8", "surrogateescape")


def password_interactive(name: str) -> str:
    """etcdctl's prompt for a new password: asked twice, neither empty nor different."""
    def ask(prompt: str) -> str:
        try:
            return ask_password(prompt)
        except OSError as e:
            raise CtlExit(EXIT_BAD_ARGS, f"failed to ask password: failed during password "
                                         f"entry: {e}") from None

    first = ask(f"Password of {name}: ")
    if not first:
        raise CtlExit(EXIT_BAD_ARGS, "empty password")
    if ask(f"Type password of {name} again for confirmation: ") != first:
        raise CtlExit(EXIT_BAD_ARGS, "given passwords are different")
    return first


# -- auth ---------------------------------------------------------------------------------

@ctl.group("auth")
def auth():
    """Enable or disable authentication"""


@auth.command("enable")
@click.argument("args", nargs=-1)
@click.pass_obj
def auth_enable(ctx, args):
    """Enables authentication"""
    _need(args, 0, "auth enable command does not accept any arguments")
    c = ctx.client()
    while True:
        try:
            c.auth_enable()
            break
        except errors.ClientError as e:
            if e.message != ROOT_ROLE_NOT_EXIST:
                raise
        # etcd wants root to hold the root role before auth goes on: give it, then retry
        c.role_add(ROOT_ROLE)
        c.user_grant_role(ROOT_USER, ROOT_ROLE)
    out("Authentication Enabled\n")


@auth.command("disable")
@click.argument("args", nargs=-1)
@click.pass_obj
def auth_disable(ctx, args):
    """Disables authentication"""
    _need(args, 0, "auth disable command does not accept any arguments")
    ctx.client().auth_disable()
    out("Authentication Disabled\n")


# -- user ---------------------------------------------------------------------------------

@ctl.group("user")
def user():
    """User related commands"""


@user.command("add")
@click.argument("args", nargs=-1)
@click.option("--interactive", is_flag=True, default=True, flag_value=True,
              help="Read password from stdin instead of interactive terminal")
@click.option("--new-user-password", default="",
              help="Supply password from the command line flag")
@click.option("--no-password", **BOOL, help="Create a user without password (CN based auth only)")
@click.pass_obj
def user_add(ctx, args, interactive, new_user_password, no_password):
    """Adds a new user"""
    _need(args, 1, "user add command requires user name as its argument")
    name, password = args[0], ""
    if no_password:
        pass
    elif new_user_password:
        password = new_user_password
    elif ":" in args[0]:
        name, _, password = args[0].partition(":")
        if not name:
            raise CtlExit(EXIT_BAD_ARGS, "empty user name is not allowed")
    elif interactive:
        password = password_interactive(name)
    else:
        password = scan_word()
    resp = ctx.client().user_add(name, password, no_password=no_password)
    _show(ctx, resp, f"User {name} created\n")


@user.command("delete")
@click.argument("args", nargs=-1)
@click.pass_obj
def user_delete(ctx, args):
    """Deletes a user"""
    _need(args, 1, "user delete command requires user name as its argument")
    resp = ctx.client().user_delete(args[0])
    _show(ctx, resp, f"User {args[0]} deleted\n")


@user.command("get")
@click.argument("args", nargs=-1)
@click.option("--detail", **BOOL, help="Show permissions of roles granted to the user")
@click.pass_obj
def user_get(ctx, args, detail):
    """Gets detailed information of a user"""
    _need(args, 1, "user get command requires user name as its argument")
    name = args[0]
    c = ctx.client()
    resp = c.user_get(name)
    if not detail:
        _show(ctx, resp, f"User: {name}\nRoles:{''.join(' ' + r for r in resp.roles)}\n",
              fields=None)
        return
    # etcdctl writes this part itself, whatever the format; each role as role get does
    out(f"User: {name}\n")
    for role in resp.roles:
        out("\n")
        _show_role(ctx, role, c.role_get(role))


@user.command("list")
@click.argument("args", nargs=-1)
@click.pass_obj
def user_list(ctx, args):
    """Lists all users"""
    _need(args, 0, "user list command requires no arguments")
    resp = ctx.client().user_list()
    _show(ctx, resp, "".join(f"{u}\n" for u in resp.users), fields=None)


@user.command("passwd")
@click.argument("args", nargs=-1)
@click.option("--interactive", is_flag=True, default=True, flag_value=True,
              help="If true, read password from stdin instead of interactive terminal")
@click.pass_obj
def user_passwd(ctx, args, interactive):
    """Changes password of user"""
    _need(args, 1, "user passwd command requires user name as its argument")
    password = password_interactive(args[0]) if interactive else scan_word()
    resp = ctx.client().user_change_password(args[0], password)
    _show(ctx, resp, "Password updated\n")


@user.command("grant-role")
@click.argument("args", nargs=-1)
@click.pass_obj
def user_grant_role(ctx, args):
    """Grants a role to a user"""
    _need(args, 2, "user grant command requires user name and role name as its argument")
    resp = ctx.client().user_grant_role(args[0], args[1])
    _show(ctx, resp, f"Role {args[1]} is granted to user {args[0]}\n")


@user.command("revoke-role")
@click.argument("args", nargs=-1)
@click.pass_obj
def user_revoke_role(ctx, args):
    """Revokes a role from a user"""
    _need(args, 2, "user revoke-role requires user name and role name as its argument")
    resp = ctx.client().user_revoke_role(args[0], args[1])
    _show(ctx, resp, f"Role {args[1]} is revoked from user {args[0]}\n")


# -- role ---------------------------------------------------------------------------------

@ctl.group("role")
def role():
    """Role related commands"""


@role.command("add")
@click.argument("args", nargs=-1)
@click.pass_obj
def role_add(ctx, args):
    """Adds a new role"""
    _need(args, 1, "role add command requires role name as its argument")
    resp = ctx.client().role_add(args[0])
    _show(ctx, resp, f"Role {args[0]} created\n")


@role.command("delete")
@click.argument("args", nargs=-1)
@click.pass_obj
def role_delete(ctx, args):
    """Deletes a role"""
    _need(args, 1, "role delete command requires role name as its argument")
    resp = ctx.client().role_delete(args[0])
    _show(ctx, resp, f"Role {args[0]} deleted\n")


@role.command("get")
@click.argument("args", nargs=-1)
@click.pass_obj
def role_get(ctx, args):
    """Gets detailed information of a role"""
    _need(args, 1, "role get command requires role name as its argument")
    _show_role(ctx, args[0], ctx.client().role_get(args[0]))


@role.command("list")
@click.argument("args", nargs=-1)
@click.pass_obj
def role_list(ctx, args):
    """Lists all roles"""
    _need(args, 0, "role list command requires no arguments")
    resp = ctx.client().role_list()
    _show(ctx, resp, "".join(f"{r}\n" for r in resp.roles),
          '"Roles" :' + "".join(f" {d.go_quote(r)}" for r in resp.roles) + "\n")


def perm_range(args, prefix: bool, from_key: bool) -> tuple[bytes, bytes]:
    """(key, range_end) of a permission from `<key> [endkey]` and the flags, as etcdctl makes
    it; a CtlExit (ExitBadArgs) for flags that do not go together."""
    both = "--from-key and --prefix flags are mutually exclusive"
    key = _bytes(args[0])
    if not key:
        # etcd's permission ranges cannot start at "": an empty key is "\x00", and with
        # --prefix or --from-key it reaches the end of the key space
        if prefix and from_key:
            raise CtlExit(EXIT_BAD_ARGS, both)
        return FROM_KEY, FROM_KEY if prefix or from_key else b""
    if len(args) == 1:
        if prefix and from_key:
            raise CtlExit(EXIT_BAD_ARGS, both)
        if prefix:
            return key, prefix_end(key)
        return key, FROM_KEY if from_key else b""
    if prefix:
        raise CtlExit(EXIT_BAD_ARGS, "unexpected endkey argument with --prefix flag")
    if from_key:
        raise CtlExit(EXIT_BAD_ARGS, "unexpected endkey argument with --from-key flag")
    return key, _bytes(args[1])


def revoked_text(role: str, key: str, end: bytes) -> str:
    """What role revoke-permission prints (`key` as typed, `end` as sent)."""
    if not end:
        return f"Permission of key {key} is revoked from role {role}\n"
    if end == FROM_KEY:
        return f"Permission of range [{key}, <open ended> is revoked from role {role}\n"
    return f"Permission of range [{key}, {d.text(end)}) is revoked from role {role}\n"


@role.command("grant-permission")
@click.argument("args", nargs=-1)
@click.option("--prefix", **BOOL, help="grant a prefix permission")
@click.option("--from-key", **BOOL, help="grant a permission of keys that are greater than or "
              "equal to the given key using byte compare")
@click.pass_obj
def role_grant_permission(ctx, args, prefix, from_key):
    """Grants a key to a role"""
    _need(args, 3, "role grant command requires role name, permission type, and key [endkey] "
                   "as its argument", at_least=True)
    kind = PermType.__members__.get(args[1].upper())
    if kind is None:
        raise CtlExit(EXIT_BAD_ARGS, f"invalid permission type: {args[1]}")
    key, end = perm_range(args[2:], prefix, from_key)
    resp = ctx.client().role_grant_permission(args[0], kind, key, end)
    _show(ctx, resp, f"Role {args[0]} updated\n")


@role.command("revoke-permission")
@click.argument("args", nargs=-1)
@click.option("--prefix", **BOOL, help="revoke a prefix permission")
@click.option("--from-key", **BOOL, help="revoke a permission of keys that are greater than "
              "or equal to the given key using byte compare")
@click.pass_obj
def role_revoke_permission(ctx, args, prefix, from_key):
    """Revokes a key from a role"""
    _need(args, 2, "role revoke-permission command requires role name and key [endkey] as its "
                   "argument", at_least=True)
    key, end = perm_range(args[1:], prefix, from_key)
    resp = ctx.client().role_revoke_permission(args[0], key, end)
    _show(ctx, resp, revoked_text(args[0], args[1], end))
