"""What auth costs a put: the same load with auth off and on, against petcd and against a real
etcd 3.4.23 in the same run.

Usage: python -m petcd.bench.auth_overhead [--total 20000] [--rounds 3] [--etcd /usr/bin/etcd]

Theory of operation: one member of each kind (bench/servers.py) gets `petcd-bench put` over
etcd's gRPC API (grpc://, so one tool drives both), twice per round: with auth off, and with
auth on as a user that is not root and holds READWRITE on the whole key space (root skips the
permission check, so it would measure less than a real user costs). Workloads: 64 clients on
4 connections (throughput), and 1 client on 1 connection (latency; a tenth of --total). The rounds alternate off
and on so that a slow phase of the machine does not land on one side only; the table has the
median of the rounds. With simple tokens the goal is at most 10% more per put.
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
from .servers import post_json, start_cluster, stop_all

# name -> (connections, clients, share of --total)
WORKLOADS = {"put-4x64": ("4", "64", 1.0), "put-1x1": ("1", "1", 0.1)}


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


def run_put(port: int, conns: str, clients: str, total: int, user: str | None) -> dict:
    cmd = [sys.executable, "-m", "petcd.bench.benchmark", "--endpoints",
           f"grpc://127.0.0.1:{port}", "--conns", conns, "--clients", clients,
           *(["--user", user] if user else []), "put", "--total", str(total),
           "--key-size", "8", "--val-size", "256", "--key-space-size", "10000"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    avg = re.search(r"Average:\s+([\d.]+) secs", out)
    if not rps or not avg:
        raise RuntimeError(f"no report from {shlex.join(cmd)}:\n{out[-2000:]}")
    return {"rps": float(rps.group(1)), "avg_ms": float(avg.group(1)) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    args = ap.parse_args()
    results: dict[tuple[str, str, str], list[dict]] = {}
    for kind in ("petcd", "etcd"):
        with tempfile.TemporaryDirectory(prefix=f"auth-bench-{kind}-") as workdir:
            members = start_cluster(kind, 1, workdir, etcd_binary=args.etcd)
            try:
                m = members[0]
                # Two members side by side, one with auth on and one without, so that the
                # rounds can alternate between them.
                os.makedirs(workdir + "/off")
                off_members = start_cluster(kind, 1, workdir + "/off", etcd_binary=args.etcd)
                try:
                    enable_auth(m.url)
                    for _ in range(args.rounds):
                        for name, (conns, clients, share) in WORKLOADS.items():
                            for mode, member, user in (("off", off_members[0], None),
                                                       ("on", m, "bench:benchpw")):
                                r = run_put(member.client_port, conns, clients,
                                            max(100, int(args.total * share)), user)
                                results.setdefault((kind, name, mode), []).append(r)
                                print(kind, name, mode, r, file=sys.stderr)
                finally:
                    stop_all(off_members)
            finally:
                stop_all(members)
    print(f"{datetime.date.today()}, commit {git_commit()}, "
          f"`python -m petcd.bench.auth_overhead --total {args.total} --rounds {args.rounds}`\n")
    print("| server | workload | auth off | auth on | cost per put |")
    print("|---|---|---|---|---|")
    for kind in ("petcd", "etcd"):
        for name in WORKLOADS:
            off = results[(kind, name, "off")]
            on = results[(kind, name, "on")]
            key, unit = ("rps", "put/s") if name != "put-1x1" else ("avg_ms", "ms")
            a = statistics.median(r[key] for r in off)
            b = statistics.median(r[key] for r in on)
            cost = (a / b - 1) if key == "rps" else (b / a - 1)
            print(f"| {kind} | {name} | {a:,.1f} {unit} | {b:,.1f} {unit} | {cost:+.1%} |")


if __name__ == "__main__":
    main()
