"""get, put, del, txn, compaction: etcdctl's KV commands."""
from __future__ import annotations

import sys

import click

from petcd.common.kv import SortOrder, SortTarget
from . import display as d
from .cli import EXIT_BAD_ARGS, EXIT_INVALID_INPUT, CtlExit, ctl, out
from .txn_parse import SORT_TARGETS, TxnSyntaxError, parse_txn

BOOL = dict(is_flag=True, default=False)


def _print(ctx, resp, simple, fields, json_doc=None) -> None:
    w = ctx.write_out
    if w == "simple":
        out(simple())
    elif w == "json":
        out(d.to_json(json_doc if json_doc is not None else d.etcdctl_json(resp)) + "\n")
    elif w == "fields":
        out(fields())
    elif w == "protobuf":
        raise CtlExit(4, "protobuf output is not supported by petcdctl")
    else:
        raise CtlExit(4, f"{w} not supported as output format")


@ctl.command("get")
@click.argument("args", nargs=-1)
@click.option("--consistency", default="l")
@click.option("--order", default="")
@click.option("--sort-by", default="")
@click.option("--prefix", **BOOL)
@click.option("--from-key", **BOOL)
@click.option("--limit", default=0, type=int)
@click.option("--rev", default=0, type=int)
@click.option("--keys-only", **BOOL)
@click.option("--print-value-only", **BOOL)
@click.pass_obj
def get(ctx, args, consistency, order, sort_by, prefix, from_key, limit, rev, keys_only,
        print_value_only):
    """Gets the key or a range of keys"""
    if not 1 <= len(args) <= 2:
        raise CtlExit(EXIT_BAD_ARGS, "get command needs one argument as key and an optional "
                                     "argument as range_end")
    if prefix and from_key:
        raise CtlExit(EXIT_BAD_ARGS, "`--prefix` and `--from-key` cannot be set at the same "
                                     "time, choose one")
    if (prefix or from_key) and len(args) > 1:
        raise CtlExit(EXIT_BAD_ARGS, "too many arguments, only accept one argument when "
                                     "`--prefix` or `--from-key` is set")
    if consistency not in ("l", "s"):
        raise CtlExit(EXIT_BAD_ARGS, f"unknown consistency flag {d.go_quote(consistency)}")
    so = SortOrder.NONE
    if order:
        if order.upper() not in ("ASCEND", "DESCEND"):
            raise CtlExit(4, f"bad sort order {order}")
        so = SortOrder[order.upper()]
    st = SortTarget.KEY
    if sort_by:
        if sort_by.upper() not in SORT_TARGETS:
            raise CtlExit(4, f"bad sort target {sort_by}")
        st = SORT_TARGETS[sort_by.upper()]
    if ctx.write_out == "table":
        raise CtlExit(4, "table not supported as output format")
    resp = ctx.client().get(args[0], args[1] if len(args) > 1 else None, prefix=prefix,
                            from_key=from_key, limit=limit, revision=rev, sort_order=so,
                            sort_target=st, serializable=consistency == "s",
                            keys_only=keys_only)
    print_get(ctx, resp, print_value_only)


def print_get(ctx, resp, value_only: bool = False) -> None:
    """A RangeResponse as etcdctl's display.Get prints it (get; lock and elect too)."""
    _print(ctx, resp, lambda: d.simple_get(resp, ctx.hex, value_only),
           lambda: d.fields_get(resp))


@ctl.command("put")
@click.argument("args", nargs=-1)
@click.option("--lease", default="0")
@click.option("--prev-kv", **BOOL)
@click.option("--ignore-value", **BOOL)
@click.option("--ignore-lease", **BOOL)
@click.pass_obj
def put(ctx, args, lease, prev_kv, ignore_value, ignore_lease):
    """Puts the given key into the store"""
    if not args:
        raise CtlExit(EXIT_BAD_ARGS, "put command needs 1 argument and input from stdin or 2 "
                                     "arguments")
    key = args[0]
    if ignore_value and len(args) > 1:
        raise CtlExit(EXIT_BAD_ARGS, "put command needs only 1 argument when "
                                     "'ignore-value' is set")
    if len(args) > 2:
        raise CtlExit(EXIT_BAD_ARGS, "put command needs 1 argument and input from stdin or 2 "
                                     "arguments")
    if len(args) > 1:
        value = args[1]
    elif ignore_value:
        value = ""
    else:
        value = sys.stdin.read()
        if not value:
            raise CtlExit(EXIT_BAD_ARGS, "put command needs 1 argument and input from stdin "
                                         "or 2 arguments")
    try:
        lease_id = int(lease, 16)
    except ValueError:
        raise CtlExit(EXIT_BAD_ARGS, f"bad lease ID (strconv.ParseInt: parsing "
                                     f"{d.go_quote(lease)}: invalid syntax), expecting ID "
                                     "in Hex") from None
    if ctx.write_out == "table":
        raise CtlExit(4, "table not supported as output format")
    resp = ctx.client().put(key, value, lease=lease_id, prev_kv=prev_kv,
                            ignore_value=ignore_value, ignore_lease=ignore_lease)
    _print(ctx, resp, lambda: d.simple_put(resp, ctx.hex), lambda: d.fields_put(resp))


@ctl.command("del")
@click.argument("args", nargs=-1)
@click.option("--prefix", **BOOL)
@click.option("--prev-kv", **BOOL)
@click.option("--from-key", **BOOL)
@click.pass_obj
def delete(ctx, args, prefix, prev_kv, from_key):
    """Removes the specified key or range of keys [key, range_end)"""
    if not 1 <= len(args) <= 2:
        raise CtlExit(EXIT_BAD_ARGS, "del command needs one argument as key and an optional "
                                     "argument as range_end")
    if prefix and from_key:
        raise CtlExit(EXIT_BAD_ARGS, "`--prefix` and `--from-key` cannot be set at the same "
                                     "time, choose one")
    if (prefix or from_key) and len(args) > 1:
        flag = "--prefix" if prefix else "--from-key"
        raise CtlExit(EXIT_BAD_ARGS, f"too many arguments, only accept one argument when "
                                     f"`{flag}` is set.")
    if ctx.write_out == "table":
        raise CtlExit(4, "table not supported as output format")
    resp = ctx.client().delete(args[0], args[1] if len(args) > 1 else None, prefix=prefix,
                               from_key=from_key, prev_kv=prev_kv)
    _print(ctx, resp, lambda: d.simple_del(resp, ctx.hex), lambda: d.fields_del(resp))


@ctl.command("txn")
@click.option("-i", "--interactive", **BOOL)
@click.argument("args", nargs=-1)
@click.pass_obj
def txn(ctx, interactive, args):
    """Txn processes all the requests in one transaction"""
    if args:
        raise CtlExit(EXIT_BAD_ARGS, "txn command does not accept argument")
    prompt = (lambda s: out(s + "\n")) if interactive else None
    try:
        t = parse_txn(sys.stdin.readline, prompt)
    except TxnSyntaxError as e:
        raise CtlExit(EXIT_INVALID_INPUT, str(e)) from None
    if ctx.write_out == "table":
        raise CtlExit(4, "table not supported as output format")
    resp = ctx.client().txn(t)
    _print(ctx, resp, lambda: d.simple_txn(resp, ctx.hex), lambda: d.fields_txn(resp),
           d.json_txn(resp))


@ctl.command("compaction")
@click.argument("args", nargs=-1)
@click.option("--physical", **BOOL)
@click.pass_obj
def compaction(ctx, args, physical):
    """Compacts the event history in etcd"""
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, "compaction command needs 1 argument")
    try:
        rev = int(args[0])
    except ValueError:
        raise CtlExit(1, f'strconv.ParseInt: parsing {d.go_quote(args[0])}: '
                         'invalid syntax') from None
    ctx.client().compact(rev, physical=physical)
    out(f"compacted revision {rev}\n")
