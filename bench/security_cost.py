"""What security costs a put: the same load in the clear, with auth on, and over TLS, against
petcd and against a real etcd 3.4.23 in the same run.

Usage: python -m petcd.bench.security_cost [--total 20000] [--rounds 3] [--etcd /usr/bin/etcd]

Theory of operation: for each kind, three one-member clusters run side by side
(bench/servers.py): `plain`, `auth` (auth enabled; the load runs as a user that is not root and
holds READWRITE on the whole key space, since root skips the permission checks and would
measure less than a real user costs) and `tls` (https:// client URL with a self-signed
certificate, ECDSA P-256, that the clients trust; no auth). `petcd-bench put` drives each over etcd's gRPC API (grpc:// or
grpcs://, so one tool drives both kinds) in two workloads: 64 clients on 4 connections
(throughput), and 1 client on 1 connection (latency; a tenth of --total puts). The rounds take
the three modes in turn, so that a slow phase of the machine does not land on one mode only;
the table has the median of the rounds and each mode's cost against `plain`, in throughput
or latency and in the server's CPU per put (every process of the member, from /proc: on a
shared 2-core machine it moves much less with other load than throughput does). The goal for
auth with simple tokens is at most 10% more per put.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

from .grpc_compare import git_commit
from petcd.stages.api.tls import self_signed
from .servers import post_json, start_cluster, stop_all
from .stage_cpu import cpu_s

# name -> (connections, clients, share of --total)
WORKLOADS = {"put-4x64": ("4", "64", 1.0), "put-1x1": ("1", "1", 0.1)}
MODES = ("plain", "auth", "tls")


def enable_auth(url: str) -> None:
    """root, and a user `bench` with READWRITE on every key; auth on."""
    a = lambda path, body: post_json(url, "/v3/auth/" + path, body)  # noqa: E731
    a("user/add", {"name": "root", "password": "rootpw"})
    a("role/add", {"name": "root"})
    a("user/grant", {"user": "root", "role": "root"})
    a("user/add", {"name": "bench", "password": "benchpw"})
    a("role/add", {"name": "all"})
    a("role/grant", {"name": "all", "perm": {"permType": "READWRITE", "key": "AA==",
                                             "range_end": "AA=="}})
    a("user/grant", {"user": "bench", "role": "all"})
    a("enable", {})


def make_certs(directory: str) -> tuple[str, str, str]:
    """(CA file, server cert, server key) for 127.0.0.1: a self-signed certificate, which
    clients trust as its own CA."""
    cert, key = self_signed(os.path.join(directory, "certs"), ["https://127.0.0.1"])
    return cert, cert, key


def member_cpu_s(m) -> float:
    """User + system CPU seconds of the member's processes so far (petcd: its stages)."""
    pids = m.stage_pids().values() if m.kind == "petcd" else [m.proc.pid]
    return sum(cpu_s(p) for p in pids)


def run_put(endpoint: str, conns: str, clients: str, total: int, extra: list[str],
            member=None) -> dict:
    cmd = [sys.executable, "-m", "petcd.bench.benchmark", "--endpoints", endpoint,
           "--conns", conns, "--clients", clients, *extra, "put", "--total", str(total),
           "--key-size", "8", "--val-size", "256", "--key-space-size", "10000"]
    before = member_cpu_s(member) if member is not None else 0.0
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800).stdout
    cpu_us = (member_cpu_s(member) - before) / total * 1e6 if member is not None else 0.0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    avg = re.search(r"Average:\s+([\d.]+) secs", out)
    if not rps or not avg:
        raise RuntimeError(f"no report from {shlex.join(cmd)}:\n{out[-2000:]}")
    return {"rps": float(rps.group(1)), "avg_ms": float(avg.group(1)) * 1000,
            "cpu_us": cpu_us}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    args = ap.parse_args()
    results: dict[tuple[str, str, str], list[dict]] = {}
    for kind in ("petcd", "etcd"):
        with tempfile.TemporaryDirectory(prefix=f"security-bench-{kind}-") as workdir:
            ca, cert, key = make_certs(workdir)
            started = []
            try:
                members = {}
                for mode in MODES:
                    d = os.path.join(workdir, mode)
                    os.makedirs(d)
                    tls = ("--cert-file", cert, "--key-file", key) if mode == "tls" else ()
                    ms = start_cluster(kind, 1, d, etcd_binary=args.etcd, extra_args=tls,
                                       secure=mode == "tls", ca_file=ca)
                    started += ms
                    members[mode] = ms[0]
                enable_auth(members["auth"].url)
                how = {"plain": (f"grpc://127.0.0.1:{members['plain'].client_port}", []),
                       "auth": (f"grpc://127.0.0.1:{members['auth'].client_port}",
                                ["--user", "bench:benchpw"]),
                       "tls": (f"grpcs://127.0.0.1:{members['tls'].client_port}",
                               ["--cacert", ca])}
                for _ in range(args.rounds):
                    for name, (conns, clients, share) in WORKLOADS.items():
                        for mode in MODES:
                            endpoint, extra = how[mode]
                            r = run_put(endpoint, conns, clients,
                                        max(100, int(args.total * share)), extra,
                                        members[mode])
                            results.setdefault((kind, name, mode), []).append(r)
                            print(kind, name, mode, r, file=sys.stderr)
            finally:
                stop_all(started)
    print(f"{datetime.date.today()}, commit {git_commit()}, "
          f"`python -m petcd.bench.security_cost --total {args.total} --rounds {args.rounds}`\n")
    print("| server | workload | plain | auth on | cost | TLS | cost |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("petcd", "etcd"):
        for name in WORKLOADS:
            key, unit = ("rps", "put/s") if name != "put-1x1" else ("avg_ms", "ms")
            med = {mode: statistics.median(r[key] for r in results[(kind, name, mode)])
                   for mode in MODES}

            def cost(mode: str) -> str:
                a, b = med["plain"], med[mode]
                return f"{(a / b - 1) if key == 'rps' else (b / a - 1):+.1%}"

            print(f"| {kind} | {name} | {med['plain']:,.1f} {unit} | {med['auth']:,.1f} {unit} "
                  f"| {cost('auth')} | {med['tls']:,.1f} {unit} | {cost('tls')} |")
    print("\nServer CPU per put (user + system of the member's processes, us):\n")
    print("| server | workload | plain | auth on | cost | TLS | cost |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("petcd", "etcd"):
        for name in WORKLOADS:
            c = {mode: statistics.median(r["cpu_us"] for r in results[(kind, name, mode)])
                 for mode in MODES}
            print(f"| {kind} | {name} | {c['plain']:,.0f} | {c['auth']:,.0f} | "
                  f"{c['auth'] / c['plain'] - 1:+.1%} | {c['tls']:,.0f} | "
                  f"{c['tls'] / c['plain'] - 1:+.1%} |")


if __name__ == "__main__":
    main()
