"""`petcd-bench`: etcd's `benchmark` tool for petcd, with its subcommands, flags and report.

    petcd-bench [--endpoints tcp://127.0.0.1:2378] [--conns 1] [--clients 1] [--precise]
                put|range|txn-put|watch-latency|lease-keepalive [flags]

Subcommands and flags are etcd 3.4's (tools/benchmark): put (--key-size --val-size --rate
--total --key-space-size --sequential-keys --compact-interval --compact-index-delta), range
<key> [end-range] (--rate --total --consistency), txn-put (--key-size --val-size --txn-ops
--rate --total --key-space-size), watch-latency (--total --put-rate --key-size --val-size),
lease-keepalive (--total). The global flags may come before or after the subcommand, as with
cobra's persistent flags. The report is etcd's (bench/report.py) on stdout; a progress bar
is drawn on stderr when it is a terminal.

The default endpoint is petcd's native ZeroMQ listener: `--clients` asyncio tasks share
`--conns` connections with many calls in flight on each (bench/load.py). `grpc://host:port`
endpoints speak etcd's gRPC API the same way, so one tool drives etcd and petcd alike (the
put, range, txn-put and lease-keepalive subcommands); http:// endpoints work too, one
connection per client. `--user name:password` logs every connection in (etcd's auth);
`--cacert`, `--cert`, `--key` are for grpcs:// and https:// endpoints.
Not here: --sample, --target-leader, TLS,
put --check-hashkv, and etcd's stm, watch, watch-get and mvcc subcommands.
"""
from __future__ import annotations

import asyncio
import os
import random
import sys
from dataclasses import dataclass

import click

from petcd.client import messages as m
from petcd.client import txn as t
from petcd.client.tls import TLSConfig
from petcd.ctl.cli import parse_duration_s
from . import load, report
from .keys import put_varint

DEFAULT_ENDPOINTS = "tcp://127.0.0.1:2378"
MAX_INT32 = (1 << 31) - 1
LEASE_TTL_S = 100  # etcd's lease-keepalive grants each client a 100 s lease


@dataclass(frozen=True, slots=True)
class Settings:
    """The global flags, from the group or (taking precedence) the subcommand."""
    endpoints: str
    conns: int
    clients: int
    precise: bool
    dial_timeout_s: float
    user: str | None = None
    tls: object = None  # client/tls.TLSConfig for grpcs:// and https:// endpoints

    @property
    def precision(self) -> str:
        return "%g" if self.precise else report.DEFAULT_PRECISION


GLOBAL_OPTIONS = (
    ("--endpoints", dict(default=None, help=f"endpoints (default {DEFAULT_ENDPOINTS}; "
                                             "tcp:// is native, grpc:// etcd's gRPC API, "
                                             "http:// the gateway)")),
    ("--conns", dict(default=None, type=int, help="Total number of connections")),
    ("--clients", dict(default=None, type=int, help="Total number of clients")),
    ("--precise", dict(is_flag=True, default=None, help="use full floating point precision")),
    ("--dial-timeout", dict(default=None, help="dial timeout for client connections")),
    ("--user", dict(default=None, help="provide username[:password] for authentication")),
    ("--cacert", dict(default=None, help="verify certificates of TLS-enabled secure servers "
                                         "using this CA bundle")),
    ("--cert", dict(default=None, help="identify secure client using this TLS certificate file")),
    ("--key", dict(default=None, help="identify secure client using this TLS key file")),
)


def global_options(f):
    for name, kw in reversed(GLOBAL_OPTIONS):
        f = click.option(name, **kw)(f)
    return f


def settings(ctx: click.Context, sub: dict) -> Settings:
    top = ctx.find_root().params
    pick = lambda k, default: sub[k] if sub.get(k) is not None else (  # noqa: E731
        top[k] if top.get(k) is not None else default)
    dial = pick("dial_timeout", "2s")
    return Settings(pick("endpoints", DEFAULT_ENDPOINTS), pick("conns", 1), pick("clients", 1),
                    bool(pick("precise", False)), parse_duration_s(dial) or 2.0,
                    pick("user", None),
                    TLSConfig(pick("cacert", ""), pick("cert", ""), pick("key", ""))
                    if pick("cacert", None) or pick("cert", None) else None)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def benchmark(**_):
    """A low-level benchmark tool for petcd (etcd's `benchmark`)."""


def run_load(s: Settings, total: int, op, rate_per_s: float, setup=None) -> report.Stats:
    async def main():
        async with load.open_clients(s.endpoints, s.conns, s.clients,
                                     dial_timeout_s=s.dial_timeout_s, user=s.user,
                                     tls=s.tls) as clients:
            if setup is not None:
                clients = await setup(clients)
            return await load.run_total(clients, total, op, rate_per_s=rate_per_s)
    return asyncio.run(main())


def key_for(n: int, size: int) -> bytes:
    try:
        return put_varint(n, size)
    except ValueError as e:
        raise click.UsageError(f"--key-size too small: {e}") from None


@benchmark.command("put")
@global_options
@click.option("--key-size", default=8, help="Key size of put request")
@click.option("--val-size", default=8, help="Value size of put request")
@click.option("--rate", default=0, help="Maximum puts per second (0 is no limit)")
@click.option("--total", default=10000, help="Total number of put requests")
@click.option("--key-space-size", default=1, help="Maximum possible keys")
@click.option("--sequential-keys", is_flag=True, default=False, help="Use sequential keys")
@click.option("--compact-interval", default="0",
              help="Interval to compact database (e.g. 5m); 0 is never")
@click.option("--compact-index-delta", default=1000,
              help="Delta between current revision and compact revision")
@click.pass_context
def put(ctx, key_size, val_size, rate, total, key_space_size, sequential_keys,
        compact_interval, compact_index_delta, **g):
    """Benchmark put"""
    s = settings(ctx, g)
    if key_space_size <= 0:
        sys.stderr.write(f"expected positive --key-space-size, got ({key_space_size})")
        raise SystemExit(1)
    interval_s = parse_duration_s(compact_interval)
    value = os.urandom(val_size)

    async def op(c, i):
        n = i % key_space_size if sequential_keys else random.randrange(key_space_size)
        await c.put(key_for(n, key_size), value)

    async def setup(clients):
        if interval_s > 0:
            asyncio.ensure_future(compact_every(clients[0], interval_s, compact_index_delta))
        return clients

    stats = run_load(s, total, op, rate, setup)
    click.echo(report.format_report(stats, s.precision))  # etcd: fmt.Println, one more \n


async def compact_every(c, interval_s: float, delta: int) -> None:
    # etcd's compactKV: read the current revision from any key's header, compact `delta`
    # revisions behind it. The task dies with the run's event loop.
    while True:
        await asyncio.sleep(interval_s)
        resp = await c.get("foo")
        await c.compact(max(0, resp.header.revision - delta))


@benchmark.command("range")
@global_options
@click.argument("args", nargs=-1)
@click.option("--rate", default=0, help="Maximum range requests per second (0 is no limit)")
@click.option("--total", default=10000, help="Total number of range requests")
@click.option("--consistency", default="l", help="Linearizable(l) or Serializable(s)")
@click.pass_context
def range_(ctx, args, rate, total, consistency, **g):
    """Benchmark range"""
    s = settings(ctx, g)
    if not 1 <= len(args) <= 2 or consistency not in ("l", "s"):
        click.echo(ctx.get_usage(), err=True)
        raise SystemExit(1)
    key, end = args[0], (args[1] if len(args) == 2 else None)
    click.echo("bench with " + ("linearizable" if consistency == "l" else "serializable")
               + " range")

    async def op(c, _i):
        await c.get(key, end, serializable=consistency == "s")

    stats = run_load(s, total, op, rate)
    click.echo(report.format_report(stats, s.precision), nl=False)


@benchmark.command("txn-put")
@global_options
@click.option("--key-size", default=8, help="Key size of txn put")
@click.option("--val-size", default=8, help="Value size of txn put")
@click.option("--txn-ops", default=1, help="Number of puts per txn")
@click.option("--rate", default=0, help="Maximum txns per second (0 is no limit)")
@click.option("--total", default=10000, help="Total number of txn requests")
@click.option("--key-space-size", default=1, help="Maximum possible keys")
@click.pass_context
def txn_put(ctx, key_size, val_size, txn_ops, rate, total, key_space_size, **g):
    """Benchmark txn-put"""
    s = settings(ctx, g)
    if key_space_size <= 0:
        sys.stderr.write(f"expected positive --key-space-size, got ({key_space_size})")
        raise SystemExit(1)
    value = os.urandom(val_size)

    async def op(c, i):
        puts = [t.put(key_for((i * txn_ops + j) % key_space_size, key_size), value)
                for j in range(txn_ops)]
        await c.txn(t.Txn().then(*puts))

    stats = run_load(s, total, op, rate)
    click.echo(report.format_report(stats, s.precision))


class _Leased:
    """A client with the lease it keeps alive (etcd grants one per client)."""

    def __init__(self, client, lease_id: int) -> None:
        self.client, self.lease_id = client, lease_id


@benchmark.command("lease-keepalive")
@global_options
@click.option("--total", default=10000, help="Total number of lease keepalive requests")
@click.pass_context
def lease_keepalive(ctx, total, **g):
    """Benchmark lease keepalive"""
    s = settings(ctx, g)
    native = load.multiplexes(s.endpoints)  # a renewal is one call (a one-message stream)
    granted: list[_Leased] = []

    async def setup(clients):
        for c in clients:
            granted.append(_Leased(c, (await c.lease_grant(LEASE_TTL_S)).id))
        return granted

    async def op(slot, _i):
        if native:  # one unary call per renewal in the native protocol
            await slot.client.call("LeaseKeepAlive", m.LeaseKeepAliveRequest(id=slot.lease_id))
        else:
            await slot.client.lease_keep_alive_once(slot.lease_id)

    stats = run_load(s, total, op, 0, setup)
    click.echo(report.format_report(stats, s.precision), nl=False)


def _load_watch_latency() -> None:
    from . import watch_latency  # noqa: F401  (registers the subcommand)


def entry() -> None:
    _load_watch_latency()
    benchmark(prog_name="petcd-bench")


if __name__ == "__main__":
    # Run the installed module, not this __main__ copy: watch_latency registers itself on
    # petcd.bench.benchmark's group.
    from petcd.bench.benchmark import entry as installed_entry
    installed_entry()
