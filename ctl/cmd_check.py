"""check perf, check datascale: etcdctl 3.4's load checks, run through bench/load.py.

`check perf` refuses a prefix that already holds keys (exit 3), puts for 60 s at the load
model's rate from its number of clients, deletes everything under the prefix, optionally
compacts and defragments, then prints etcdctl's verdict (ctl/check_perf.py) and exits 1 on
FAIL. `--duration` (not in etcdctl, hidden) shortens the run, e.g. `--duration 3s`, so tests
need not wait a minute; the thresholds stay etcdctl's.

`check datascale` writes the model's number of pairs as fast as its clients can and reports
how much the server's `process_resident_memory_bytes` (from the first endpoint's /metrics,
which must be http://) grew.

Over `tcp://` endpoints the load uses petcd's native protocol, many calls in flight on each
of a few connections; over HTTP every client has its own connection (bench/load.py).
"""
from __future__ import annotations

import asyncio
import random
import sys
import urllib.request

import click

from petcd.bench import load
from petcd.bench.keys import put_varint
from petcd.client import errors
from petcd.client.endpoints import parse as parse_endpoint
from . import check_perf as cp
from . import display as d
from .cli import (EXIT_BAD_ARGS, EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INVALID_INPUT, CtlExit,
                  ctl, out, parse_duration_s)

# Native connections carry many calls each: a few are enough for etcdctl's 50-1000 clients.
NATIVE_CONNS = 4
MAX_INT63 = (1 << 63) - 1
DELETE_TIMEOUT_S = 30.0


@ctl.group("check")
def check():
    """commands for checking properties of the etcd cluster"""


def _model(load_name: str, table: dict):
    model = cp.LOAD_ALIASES.get(load_name)
    if model is None:
        raise CtlExit(EXIT_BAD_FEATURE, f"unknown load option {load_name}")
    return table[model]


def _refuse_used_prefix(ctx, prefix: str, timeout_s: float | None) -> None:
    try:
        resp = ctx.client().get(prefix, prefix=True, limit=1, timeout_s=timeout_s)
    except errors.ClientError as e:
        raise CtlExit(EXIT_ERROR, e.message) from None
    if resp.kvs:
        raise CtlExit(EXIT_INVALID_INPUT, f"prefix {d.go_quote(prefix)} has keys. Delete with "
                                          f"petcdctl del --prefix {prefix} first")


def _clean_up(ctx, prefix: str, auto_compact: bool, auto_defrag: bool) -> None:
    """Delete the run's keys, then compact and defragment as asked (etcdctl's order; its
    compact and defrag helpers print one line each and exit on failure)."""
    c = ctx.client()
    try:
        resp = c.delete(prefix, prefix=True, timeout_s=DELETE_TIMEOUT_S)
    except errors.ClientError as e:
        raise CtlExit(EXIT_ERROR, e.message) from None
    if auto_compact:
        try:
            c.compact(resp.header.revision)
        except errors.ClientError as e:
            raise CtlExit(EXIT_ERROR, e.message) from None
        out(f"compacted revision {resp.header.revision}\n")
    if auto_defrag:
        for ep in ctx.endpoints:
            one = ctx.client([ep])
            try:
                one.defragment()
            except errors.ClientError as e:
                sys.stderr.write(f"Failed to defragment etcd member[{ep}] ({e.message})\n")
                raise SystemExit(EXIT_ERROR) from None
            finally:
                one.close()
            out(f"Finished defragmenting etcd member[{ep}]\n")


async def _put_load(ctx, clients: int, run, key_bytes: int, value_bytes: int, prefix: str):
    prefix_b, value = prefix.encode(), bytes(value_bytes)

    async def put(c, _i: int) -> None:
        await c.put(prefix_b + put_varint(random.randrange(MAX_INT63), key_bytes), value)

    async with load.open_clients(ctx.endpoints, NATIVE_CONNS, clients,
                                 timeout_s=max(ctx.command_timeout_s, 60.0),
                                 dial_timeout_s=ctx.dial_timeout_s) as cs:
        return await run(cs, put)


@check.command("perf")
@click.argument("args", nargs=-1)
@click.option("--load", "load_name", default="s")
@click.option("--prefix", default="/etcdctl-check-perf/")
@click.option("--auto-compact", is_flag=True, default=False)
@click.option("--auto-defrag", is_flag=True, default=False)
@click.option("--duration", default="", hidden=True,
              help="petcd only: run this long instead of 60s (a Go duration, e.g. 3s)")
@click.pass_obj
def perf(ctx, args, load_name, prefix, auto_compact, auto_defrag, duration):
    """Check the performance of the etcd cluster"""
    model = _model(load_name, cp.PERF_LOADS)
    duration_s = float(model.duration_s)
    if duration:
        try:
            duration_s = parse_duration_s(duration)
        except ValueError as e:
            raise CtlExit(EXIT_BAD_ARGS, str(e)) from None
    _refuse_used_prefix(ctx, prefix, float(model.duration_s))
    stats = asyncio.run(_put_load(
        ctx, model.clients,
        lambda cs, put: load.run_for(cs, duration_s, put, rate_per_s=model.limit_per_s),
        cp.PERF_KEY_BYTES, cp.PERF_VALUE_BYTES, prefix))
    _clean_up(ctx, prefix, auto_compact, auto_defrag)
    lines, ok = cp.perf_verdict(stats, model.limit_per_s)
    out("".join(line + "\n" for line in lines))
    if not ok:
        raise SystemExit(EXIT_ERROR)


RESIDENT_MEMORY = "process_resident_memory_bytes"


def resident_memory_bytes(endpoint: str) -> float:
    """The server's process_resident_memory_bytes from its /metrics, 0 when unknown (as
    etcdctl, which prints the fetch error and goes on)."""
    try:
        ep = parse_endpoint(endpoint)
        if ep.scheme != "http":
            raise ValueError(f"{endpoint}: /metrics needs an http:// endpoint")
        with urllib.request.urlopen(f"http://{ep.hostport}/metrics", timeout=10) as r:
            body = r.read().decode("utf-8", "replace")
    except (OSError, ValueError, errors.ClientError) as e:
        out(f"fetch error: {e}\n")
        return 0.0
    for line in body.splitlines():
        if line.startswith(RESIDENT_MEMORY + " "):
            try:
                return float(line.split(" ")[1])
            except (IndexError, ValueError):
                return 0.0
    return 0.0


@check.command("datascale")
@click.argument("args", nargs=-1)
@click.option("--load", "load_name", default="s")
@click.option("--prefix", default="/etcdctl-check-datascale/")
@click.option("--auto-compact", is_flag=True, default=False)
@click.option("--auto-defrag", is_flag=True, default=False)
@click.pass_obj
def datascale(ctx, args, load_name, prefix, auto_compact, auto_defrag):
    """Check the memory usage of holding data for different workloads on a given server endpoint."""
    model = _model(load_name, cp.DATASCALE_LOADS)
    _refuse_used_prefix(ctx, prefix, None)
    before = resident_memory_bytes(ctx.endpoints[0])
    if before == 0:
        out("FAIL: Could not read process_resident_memory_bytes before the put operations.\n")
        raise SystemExit(EXIT_ERROR)
    out(f"Start data scale check for work load [{model.limit} key-value pairs, "
        f"{model.kv_bytes} bytes per key-value, {model.clients} concurrent clients].\n")
    stats = asyncio.run(_put_load(
        ctx, model.clients, lambda cs, put: load.run_total(cs, model.limit, put),
        cp.DATASCALE_KEY_BYTES, cp.DATASCALE_VALUE_BYTES, prefix))
    after = resident_memory_bytes(ctx.endpoints[0])
    if after == 0:
        out("FAIL: Could not read process_resident_memory_bytes after the put operations.\n")
        raise SystemExit(EXIT_ERROR)
    _clean_up(ctx, prefix, auto_compact, auto_defrag)
    if stats.errors:
        out("FAIL: too many errors\n" + "".join(f"FAIL: ERROR({msg}) -> {n}\n"
                                                for msg, n in stats.errors))
        raise SystemExit(EXIT_ERROR)
    used_mb = (after - before) / (1024 * 1024)
    out(f"PASS: Approximate system memory used : {used_mb:.2f} MB.\n")
