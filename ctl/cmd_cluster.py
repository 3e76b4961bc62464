"""member list|add|remove|update|promote, endpoint health|status|hashkv, alarm list|disarm,
move-leader, defrag, version: etcdctl's cluster and maintenance commands (the snapshot
commands are in cmd_snapshot.py)."""
from __future__ import annotations

import re
import sys
import time

import click

from petcd.client import errors
from petcd.common.cluster import AlarmType
from . import display as d
from .cli import EXIT_BAD_ARGS, EXIT_ERROR, CtlExit, ctl, error_text, out

VERSION = "0.1.0"
API_VERSION = "3.4"


@ctl.command("version")
def version():
    """Prints the version of petcdctl"""
    out(f"petcdctl version: {VERSION}\nAPI version: {API_VERSION}\n")


@ctl.group("member")
def member():
    """Membership related commands"""


def _member_row(m) -> list[str]:
    return [f"{m.id:x}", "started" if m.name else "unstarted", m.name, ",".join(m.peer_urls),
            ",".join(m.client_urls), d.go_bool(m.is_learner)]


@member.command("list")
@click.pass_obj
def member_list(ctx):
    """Lists all members in the cluster"""
    resp = ctx.client().members()
    w = ctx.write_out
    if w == "simple":
        out("".join(", ".join(_member_row(m)) + "\n" for m in resp.members))
    elif w == "json":
        out(d.to_json(d.etcdctl_json(resp)) + "\n")
    elif w == "table":
        out(d.table(["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
                    [_member_row(m) for m in resp.members]))
    elif w == "fields":
        s = d.fields_hdr(resp.header)
        for m in resp.members:
            s += f'"ID" : {m.id}\n"Name" : {d.go_quote(m.name)}\n'
            s += "".join(f'"PeerURL" : {d.go_quote(u)}\n' for u in m.peer_urls)
            s += "".join(f'"ClientURL" : {d.go_quote(u)}\n' for u in m.client_urls)
            s += f'"IsLearner" : {d.go_bool(m.is_learner)}\n\n'
        out(s)
    else:
        raise CtlExit(4, f"{w} not supported as output format")


def _member_id_arg(args) -> int:
    """etcdctl's hex member id argument (Go's strconv.ParseUint(arg, 16, 64))."""
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, "member ID is not provided")
    arg = args[0]
    why = ("invalid syntax" if not re.fullmatch(r"[0-9a-fA-F]+", arg)
           else "value out of range" if int(arg, 16) >= 1 << 64 else "")
    if why:
        raise CtlExit(EXIT_BAD_ARGS, f"bad member ID arg (strconv.ParseUint: parsing "
                                     f"{d.go_quote(arg)}: {why}), expecting ID in Hex")
    return int(arg, 16)


def _peer_urls_arg(peer_urls: str) -> list[str]:
    if not peer_urls:
        raise CtlExit(EXIT_BAD_ARGS, "member peer urls not provided")
    return peer_urls.split(",")


def _print_change(ctx, resp, simple: str) -> None:
    """etcdctl prints a member change simply or as JSON; its table and fields printers do
    not know these answers (the change is made all the same)."""
    w = ctx.write_out
    if w == "simple":
        out(simple)
    elif w == "json":
        out(d.to_json(d.etcdctl_json(resp)) + "\n")
    else:
        raise CtlExit(4, f"{w} not supported as output format")


@member.command("add")
@click.argument("args", nargs=-1)
@click.option("--peer-urls", default="", help="comma separated peer URLs for the new member.")
@click.option("--learner", is_flag=True, default=False,
              help="indicates if the new member is raft learner")
@click.pass_obj
def member_add(ctx, args, peer_urls, learner):
    """Adds a member into the cluster"""
    if not args:
        raise CtlExit(EXIT_BAD_ARGS, "member name not provided")
    if len(args) > 1:
        hint = "".join(f", did you mean --peer-urls={a}" for a in args
                       if a.lower().startswith("http"))
        raise CtlExit(EXIT_BAD_ARGS, "too many arguments" + hint)
    name = args[0]
    urls = _peer_urls_arg(peer_urls)
    c = ctx.client()
    resp = c.member_add(urls, is_learner=learner)
    new_id = resp.member.id
    _print_change(ctx, resp, f"Member {new_id:16x} added to cluster "
                             f"{resp.header.cluster_id:16x}\n")
    if ctx.write_out != "simple":
        return
    # What to start the new member with, from the member list as the same member sees it.
    listed = c.members()
    conf = [f"{name if m.id == new_id else m.name}={u}" for m in listed.members
            for u in m.peer_urls]
    out(f'\nETCD_NAME={d.go_quote(name)}\n'
        f'ETCD_INITIAL_CLUSTER={d.go_quote(",".join(conf))}\n'
        f'ETCD_INITIAL_ADVERTISE_PEER_URLS={d.go_quote(",".join(urls))}\n'
        f'ETCD_INITIAL_CLUSTER_STATE="existing"\n')


@member.command("remove")
@click.argument("args", nargs=-1)
@click.pass_obj
def member_remove(ctx, args):
    """Removes a member from the cluster"""
    member_id = _member_id_arg(args)
    resp = ctx.client().member_remove(member_id)
    _print_change(ctx, resp, f"Member {member_id:16x} removed from cluster "
                             f"{resp.header.cluster_id:16x}\n")


@member.command("update")
@click.argument("args", nargs=-1)
@click.option("--peer-urls", default="", help="comma separated peer URLs for the updated member.")
@click.pass_obj
def member_update(ctx, args, peer_urls):
    """Updates a member in the cluster"""
    member_id = _member_id_arg(args)
    urls = _peer_urls_arg(peer_urls)
    resp = ctx.client().member_update(member_id, urls)
    _print_change(ctx, resp, f"Member {member_id:16x} updated in cluster "
                             f"{resp.header.cluster_id:16x}\n")


@member.command("promote")
@click.argument("args", nargs=-1)
@click.pass_obj
def member_promote(ctx, args):
    """Promotes a non-voting member in the cluster"""
    member_id = _member_id_arg(args)
    resp = ctx.client().member_promote(member_id)
    # etcdctl 3.4.23 crashes printing this answer in any format but simple (a nil pointer in
    # its printer, exit 2, after the promotion); petcdctl prints the JSON.
    _print_change(ctx, resp, f"Member {member_id:16x} promoted in cluster "
                             f"{resp.header.cluster_id:16x}\n")


@ctl.group("endpoint")
def endpoint():
    """Endpoint related commands"""


def _endpoints(ctx, cluster: bool) -> list[str]:
    if not cluster:
        return ctx.endpoints
    resp = ctx.client().members()
    eps = [u for m in resp.members for u in m.client_urls]
    if not eps:
        raise CtlExit(EXIT_ERROR, "no client URLs found in the member list")
    return eps


@endpoint.command("health")
@click.option("--cluster", is_flag=True, default=False)
@click.pass_obj
def endpoint_health(ctx, cluster):
    """Checks the healthiness of endpoints specified in `--endpoints` flag"""
    results = []
    for ep in _endpoints(ctx, cluster):
        try:
            # a client of its own per endpoint, as etcdctl's: a failed login is this
            # endpoint's error, and nothing was timed
            c = ctx.connect([ep])
        except errors.ClientError as e:
            results.append({"endpoint": ep, "health": False, "took": "", "error": error_text(e)})
            continue
        t0 = time.monotonic()
        err = ""
        try:
            # etcd's check: a linearizable read commits through raft (permission denied
            # still proves the cluster answers)
            c.get("health")
        except errors.PermissionDenied:
            pass
        except errors.ClientError as e:
            err = error_text(e)
        took = time.monotonic() - t0
        c.close()
        results.append({"endpoint": ep, "health": not err, "took": d.go_duration(took),
                        "error": err})
    w = ctx.write_out
    if w == "json":
        out(d.to_json([{k: v for k, v in r.items() if k != "error" or v} for r in results])
            + "\n")
    elif w == "table":
        out(d.table(["ENDPOINT", "HEALTH", "TOOK", "ERROR"],
                    [[r["endpoint"], d.go_bool(r["health"]), r["took"], r["error"]]
                     for r in results]))
    elif w == "fields":
        out("".join(f'"Endpoint" : {d.go_quote(r["endpoint"])}\n"Health" : '
                    f'{d.go_bool(r["health"])}\n"Took" : {r["took"]}\n"Error" : {r["error"]}\n\n'
                    for r in results))
    else:
        for r in results:
            # etcdctl 3.4 writes these lines to stderr, healthy or not
            if r["health"]:
                sys.stderr.write(f"{r['endpoint']} is healthy: successfully committed proposal: "
                    f"took = {r['took']}\n")
            else:
                sys.stderr.write(f"{r['endpoint']} is unhealthy: failed to commit proposal: "
                                 f"{r['error']}\n")
    if not all(r["health"] for r in results):
        raise CtlExit(EXIT_ERROR, "unhealthy cluster")


def _status_row(ep, s) -> list[str]:
    return [ep, f"{s.header.member_id:x}", s.version, d.humanize_bytes(s.db_size),
            d.go_bool(s.leader == s.header.member_id), d.go_bool(s.is_learner),
            str(s.raft_term), str(s.raft_index), str(s.raft_applied_index),
            ", ".join(s.errors)]


def _each(ctx, cluster, call, what: str):
    """(endpoint, answer) for each endpoint, and the last error's message ("" if none): a
    failing endpoint is reported on stderr and skipped, as etcdctl does (`what`: "status"
    or "hash"), and the command fails at the end."""
    got, last_error = [], ""
    for ep in _endpoints(ctx, cluster):
        c = ctx.client([ep])
        try:
            got.append((ep, call(c)))
        except errors.ClientError as e:
            last_error = error_text(e)
            sys.stderr.write(f"Failed to get the {what} of endpoint {ep} ({last_error})\n")
        finally:
            c.close()
    return got, last_error


@endpoint.command("status")
@click.option("--cluster", is_flag=True, default=False)
@click.pass_obj
def endpoint_status(ctx, cluster):
    """Prints out the status of endpoints specified in `--endpoints` flag"""
    got, failed = _each(ctx, cluster, lambda c: c.status(), "status")
    w = ctx.write_out
    if w == "json":
        out(d.to_json([{"Endpoint": ep, "Status": d.etcdctl_json(s)} for ep, s in got]) + "\n")
    elif w == "table":
        out(d.table(["ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER",
                     "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"],
                    [_status_row(ep, s) for ep, s in got]))
    elif w == "fields":
        for ep, s in got:
            out(d.fields_hdr(s.header) + f'"Version" : {d.go_quote(s.version)}\n'
                f'"DBSize" : {s.db_size}\n"Leader" : {s.leader}\n'
                f'"IsLearner" : {d.go_bool(s.is_learner)}\n"RaftIndex" : {s.raft_index}\n'
                f'"RaftTerm" : {s.raft_term}\n"RaftAppliedIndex" : {s.raft_applied_index}\n'
                f'"Errors" : [{" ".join(s.errors)}]\n"Endpoint" : {d.go_quote(ep)}\n\n')
    else:
        out("".join(", ".join(_status_row(ep, s)) + "\n" for ep, s in got))
    if failed:
        raise CtlExit(EXIT_ERROR, "")  # etcdctl 3.4 exits 1 without an error line here


@endpoint.command("hashkv")
@click.option("--cluster", is_flag=True, default=False)
@click.option("--rev", default=0, type=int)
@click.pass_obj
def endpoint_hashkv(ctx, cluster, rev):
    """Prints the KV history hash for each endpoint in --endpoints"""
    got, last_error = _each(ctx, cluster, lambda c: c.hash_kv(rev), "hash")
    w = ctx.write_out
    if w == "json":
        out(d.to_json([{"Endpoint": ep, "HashKV": d.etcdctl_json(h)} for ep, h in got]) + "\n")
    elif w == "table":
        out(d.table(["ENDPOINT", "HASH"], [[ep, str(h.hash)] for ep, h in got]))
    elif w == "fields":
        out("".join(d.fields_hdr(h.header) + f'"Endpoint" : {d.go_quote(ep)}\n'
                    f'"Hash" : {h.hash}\n\n' for ep, h in got))
    else:
        out("".join(f"{ep}, {h.hash}\n" for ep, h in got))
    if last_error:
        raise CtlExit(EXIT_ERROR, last_error)


@ctl.group("alarm")
def alarm():
    """Alarm related commands"""


def _print_alarms(ctx, resp) -> None:
    w = ctx.write_out
    if w == "json":
        out(d.to_json(d.etcdctl_json(resp)) + "\n")
    elif w == "fields":
        s = d.fields_hdr(resp.header)
        for a in resp.alarms:
            s += f'"MemberID" : {a.member_id}\n"AlarmType" : {AlarmType(a.alarm).name}\n\n'
        out(s)
    elif w == "simple":
        out("".join(f"memberID:{a.member_id} alarm:{AlarmType(a.alarm).name} \n"
                    for a in resp.alarms))
    else:
        raise CtlExit(4, f"{w} not supported as output format")


@alarm.command("list")
@click.pass_obj
def alarm_list(ctx):
    """Lists all alarms"""
    _print_alarms(ctx, ctx.client().alarms())


@alarm.command("disarm")
@click.pass_obj
def alarm_disarm(ctx):
    """Disarms all alarms"""
    _print_alarms(ctx, ctx.client().alarm_disarm())


@ctl.command("move-leader")
@click.argument("args", nargs=-1)
@click.pass_obj
def move_leader(ctx, args):
    """Transfers leadership to another etcd cluster member."""
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, "move-leader command needs 1 argument")
    try:
        target = int(args[0], 16)
    except ValueError:
        raise CtlExit(EXIT_BAD_ARGS, f'strconv.ParseUint: parsing {d.go_quote(args[0])}: '
                                     'invalid syntax') from None
    leader_ep, leader_id = None, 0
    for ep in ctx.endpoints:
        c = ctx.client([ep])
        try:
            s = c.status()
        except errors.ClientError:
            continue
        finally:
            c.close()
        if s.leader == s.header.member_id:
            leader_ep, leader_id = ep, s.leader
            break
    if leader_ep is None:
        raise CtlExit(EXIT_BAD_ARGS, f"no leader endpoint given at [{' '.join(ctx.endpoints)}]")
    c = ctx.client([leader_ep])
    try:
        c.move_leader(target)
    finally:
        c.close()
    out(f"Leadership transferred from {leader_id:x} to {target:x}\n")


@ctl.command("defrag")
@click.option("--cluster", is_flag=True, default=False)
@click.option("--data-dir", default="")
@click.pass_obj
def defrag(ctx, cluster, data_dir):
    """Defragments the storage of the etcd members with given endpoints"""
    if data_dir:
        raise CtlExit(4, "--data-dir (offline defragmentation) is not supported by petcdctl")
    failed = False
    for ep in _endpoints(ctx, cluster):
        c = ctx.client([ep])
        try:
            c.defragment()
            out(f"Finished defragmenting etcd member[{ep}]\n")
        except errors.ClientError as e:
            sys.stderr.write(f"Failed to defragment etcd member[{ep}] ({error_text(e)})\n")
            failed = True
        finally:
            c.close()
    if failed:
        raise SystemExit(EXIT_ERROR)

