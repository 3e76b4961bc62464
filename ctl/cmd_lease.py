"""lease grant|revoke|timetolive|list|keep-alive: etcdctl's lease commands (ids in hex)."""
from __future__ import annotations

import base64
import time

import click

from petcd.client import errors

from . import display as d
from .arg_errors import parse_int
from .cli import EXIT_BAD_ARGS, EXIT_ERROR, CtlExit, ctl, out


def _lease_id(text: str) -> int:
    try:
        return parse_int(text, 16)
    except ValueError as e:
        raise CtlExit(EXIT_BAD_ARGS, f"bad lease ID arg ({e}), expecting ID in Hex") from None


def _one_arg(args, what: str) -> str:
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, f"{what} command needs 1 argument")
    return args[0]


def _flat_json(resp, extra: dict) -> dict:
    """clientv3's lease responses embed *ResponseHeader: encoding/json flattens its fields."""
    doc = d.etcdctl_json(resp.header) if resp.header is not None else {}
    doc.update(extra)
    return doc


@ctl.group("lease")
def lease():
    """Lease related commands"""


@lease.command("grant")
@click.argument("args", nargs=-1)
@click.pass_obj
def grant(ctx, args):
    """Creates leases"""
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, "lease grant command needs TTL argument")
    text = args[0]
    try:
        ttl = parse_int(text)
    except ValueError as e:
        raise CtlExit(EXIT_BAD_ARGS, f"bad TTL ({e})") from None
    r = ctx.client().lease_grant(ttl)
    w = ctx.write_out
    if w == "json":
        out(d.to_json(_flat_json(r, {"ID": r.id, "TTL": r.ttl, "Error": r.error})) + "\n")
    elif w == "fields":
        out(d.fields_hdr(r.header) + f'"ID" : {r.id}\n"TTL" : {r.ttl}\n')
    else:
        out(f"lease {r.id:016x} granted with TTL({r.ttl}s)\n")


@lease.command("revoke")
@click.argument("args", nargs=-1)
@click.pass_obj
def revoke(ctx, args):
    """Revokes leases"""
    lid = _lease_id(_one_arg(args, "lease revoke"))
    try:
        r = ctx.client().lease_revoke(lid)
    except errors.ClientError as e:
        raise CtlExit(EXIT_ERROR, f"failed to revoke lease ({e.message})") from None
    w = ctx.write_out
    if w == "json":  # clientv3.LeaseRevokeResponse is pb.LeaseRevokeResponse: not flattened
        out(d.to_json(d.etcdctl_json(r)) + "\n")
    elif w == "fields":
        out(d.fields_hdr(r.header))
    else:
        out(f"lease {lid:016x} revoked\n")


@lease.command("timetolive")
@click.argument("args", nargs=-1)
@click.option("--keys", is_flag=True, default=False)
@click.pass_obj
def timetolive(ctx, args, keys):
    """Get lease information"""
    lid = _lease_id(_one_arg(args, "lease timetolive"))
    r = ctx.client().lease_time_to_live(lid, keys=keys)
    w = ctx.write_out
    if w == "json":
        # clientv3.LeaseTimeToLiveResponse has its own json tags
        doc = _flat_json(r, {"id": r.id, "ttl": r.ttl, "granted-ttl": r.granted_ttl,
                             "keys": [base64.b64encode(k).decode() for k in r.keys]
                             if r.keys else None})
        out(d.to_json(doc) + "\n")
    elif w == "fields":
        out(d.fields_hdr(r.header) + f'"ID" : {r.id}\n"TTL" : {r.ttl}\n'
            f'"GrantedTTL" : {r.granted_ttl}\n'
            + "".join(f'"Key" : {d.go_quote(d.text(k))}\n' for k in r.keys))
    elif r.granted_ttl == 0 and r.ttl == -1:
        out(f"lease {lid:016x} already expired\n")
    else:
        s = f"lease {lid:016x} granted with TTL({r.granted_ttl}s), remaining({r.ttl}s)"
        if keys:
            s += f", attached keys([{' '.join(d.text(k) for k in r.keys)}])"
        out(s + "\n")


@lease.command("list")
@click.pass_obj
def lease_list(ctx):
    """List all active leases"""
    r = ctx.client().leases()
    w = ctx.write_out
    if w == "json":
        out(d.to_json(_flat_json(r, {"leases": [{"id": x.id} for x in r.leases]})) + "\n")
    elif w == "fields":
        out(d.fields_hdr(r.header) + "".join(f'"ID" : {x.id}\n' for x in r.leases))
    else:
        out(f"found {len(r.leases)} leases\n" + "".join(f"{x.id:016x}\n" for x in r.leases))


@lease.command("keep-alive")
@click.argument("args", nargs=-1)
@click.option("--once", is_flag=True, default=False)
@click.pass_obj
def keep_alive(ctx, args, once):
    """Keeps leases alive (renew)"""
    lid = _lease_id(_one_arg(args, "lease keep-alive"))
    c = ctx.client()

    def show(r) -> None:
        w = ctx.write_out
        if w == "json":
            out(d.to_json(_flat_json(r, {"ID": r.id, "TTL": r.ttl})) + "\n")
        elif w == "fields":
            out(d.fields_hdr(r.header) + f'"ID" : {r.id}\n"TTL" : {r.ttl}\n')
        else:
            out(f"lease {lid:016x} keepalived with TTL({r.ttl})\n")

    if once:
        r = c.lease_keep_alive_once(lid)
        if r.ttl <= 0:
            # etcdctl exits with ExitBadConnection here
            raise CtlExit(2, "etcdserver: requested lease not found")
        show(r)
        return
    # SIGTERM keeps its default action: etcdctl does not catch it and dies of it
    try:
        while True:
            r = c.lease_keep_alive_once(lid)
            if r.ttl <= 0:
                break
            show(r)
            time.sleep(max(0.5, r.ttl / 3.0))
    except KeyboardInterrupt:
        return
    if ctx.write_out == "simple":
        out(f"lease {lid:016x} expired or revoked.\n")
