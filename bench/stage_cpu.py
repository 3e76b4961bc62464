"""CPU time per request, by process: where a put (or a range) costs, petcd's stages against etcd.

Usage: python -m petcd.bench.stage_cpu [--size 1|3] [--script put.lua] [--connections 64]

Starts etcd 3.4.23 and petcd (1 or 3 members each, one after the other), drives the leader with
the same wrk workload, and reads every process's user+system CPU time from /proc before and
after. CPU per request is a better guide than requests/s on a shared 2-core machine: it barely
moves with other load, where throughput does. The rows add up the members of one role (leader
and followers). Needs `apt-get install etcd-server wrk`.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

from .servers import find_leader, start_cluster, stop_all
from .wrk_runner import WRK_DIR

_HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _HZ


def measure(kind: str, size: int, script: str, connections: int, seconds: int,
            etcd_binary: str) -> tuple[dict[tuple[str, str], float], float]:
    """({(role, process): CPU us per request}, requests/s)."""
    with tempfile.TemporaryDirectory(prefix="petcd-stage-cpu-") as work:
        members = start_cluster(kind, size, work, etcd_binary)
        try:
            leader = find_leader(members) if size > 1 else members[0]
            pids = {}
            for m in members:
                role = "leader" if m is leader else "follower"
                stages = m.stage_pids() if kind == "petcd" else {"etcd": m.proc.pid}
                for stage, pid in stages.items():
                    pids[(m.name, role, stage)] = pid
            before = {k: cpu_s(p) for k, p in pids.items()}
            out = subprocess.run(
                ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d",
                 f"{seconds}s", "-s", str(WRK_DIR / script), leader.url],
                capture_output=True, text=True, check=True, start_new_session=True,
                timeout=seconds + 60).stdout
            after = {k: cpu_s(p) for k, p in pids.items()}
        finally:
            stop_all(members)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    per: dict[tuple[str, str], float] = collections.Counter()
    for (name, role, stage), pid in pids.items():
        per[(role, stage)] += (after[(name, role, stage)] - before[(name, role, stage)]) \
            / requests * 1e6
    return dict(per), rps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, choices=(1, 3), default=1)
    ap.add_argument("--script", default="put.lua", help="a script in bench/wrk/")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    args = ap.parse_args()
    if not shutil.which("wrk") or not os.path.exists(args.etcd):
        sys.exit("needs wrk and etcd 3.4: apt-get install -y wrk etcd-server")
    print(f"{args.script}, {args.connections} connections, {args.size} member(s)\n")
    print("| system | role | process | CPU us per request |")
    print("|---|---|---|---:|")
    for kind in ("etcd", "petcd"):
        per, rps = measure(kind, args.size, args.script, args.connections, args.seconds,
                           args.etcd)
        for (role, stage), us in sorted(per.items()):
            print(f"| {kind} | {role} | {stage} | {us:.0f} |")
        print(f"| {kind} | all | **total** ({rps:,.0f} req/s) | **{sum(per.values()):.0f}** |")


if __name__ == "__main__":
    main()
