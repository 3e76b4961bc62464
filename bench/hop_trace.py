"""Where a lone put's latency goes: the time of each point it passes, stage by stage.

Usage: python -m petcd.bench.hop_trace [--size 1|3] [--puts 3000] [--member-args "..."]

Theory of operation: starts petcd (1 or 3 members) with PETCD_HOPTRACE set, so that every
stage records when it reads and sends on each pipe, when wal and apply sync, and when the api
reads a request and writes an answer (common/hoptrace.py). One client then puts one key after
another over one HTTP keep-alive connection to the leader, and the members are stopped, which
writes the records. With one put in flight at a time, the points between two of the leader
api's `http read` belong to one put: the bench prints, for every point that most puts pass,
its median and p90 offset from the request's arrival and the median step from the point
before. The first fifth of the puts (warm-up) is left out. Timings are printed, never
asserted; the tracing itself adds a few microseconds per point.
"""
from __future__ import annotations

import argparse
import base64
import collections
import datetime
import glob
import http.client
import json
import os
import shlex
import statistics
import sys
import tempfile

from .defrag_stall import _commit
from .servers import find_leader, start_cluster, stop_all

ANCHOR = "api http read"


def _load(trace_dir: str) -> dict[str, list[tuple[int, str]]]:
    """{member name: [(ns, "<stage> <point>")], sorted}"""
    by_member: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for path in glob.glob(os.path.join(trace_dir, "trace.*.json")):
        with open(path) as f:
            d = json.load(f)
        words = d["process"].split()  # "petcd: <member> <stage>"
        if len(words) != 3 or words[0] != "petcd:":
            continue
        member, stage = words[1], words[2]
        by_member[member].extend((ns, f"{stage} {name}") for name, ns in d["points"])
    return by_member


def table(trace_dir: str, leader: str) -> tuple[int, list[tuple[str, float, float, float]]]:
    """(puts, [(point, median us, p90 us, median step us)]) in the order of their medians."""
    by_member = _load(trace_dir)
    points = sorted((ns, f"{m}/{p}" if m != leader else p)
                    for m, pts in by_member.items() for ns, p in pts)
    puts: list[list[tuple[int, str]]] = []
    for ns, name in points:
        if name == ANCHOR:
            puts.append([(ns, name)])
        elif puts:
            puts[-1].append((ns, name))
    puts = puts[len(puts) // 5:-1]
    offsets: dict[str, list[float]] = collections.defaultdict(list)
    for put in puts:
        t0, seen = put[0][0], collections.Counter()
        for ns, name in put:
            seen[name] += 1
            key = name if seen[name] == 1 else f"{name} #{seen[name]}"
            offsets[key].append((ns - t0) / 1000)
    rows, before = [], 0.0
    common = [k for k, v in offsets.items() if len(v) >= len(puts) / 2]
    for key in sorted(common, key=lambda k: statistics.median(offsets[k])):
        v = sorted(offsets[key])
        med = statistics.median(v)
        rows.append((key, med, v[int(len(v) * 0.9)], med - before))
        before = med
    return len(puts), rows


def _put_loop(url: str, n: int) -> None:
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    value = base64.b64encode(b"v" * 64).decode()
    for i in range(n):
        key = base64.b64encode(b"hop-%08d" % i).decode()
        conn.request("POST", "/v3/kv/put", json.dumps({"key": key, "value": value}))
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"put {i}: {resp.status}")
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, choices=(1, 3), default=1)
    ap.add_argument("--puts", type=int, default=3000)
    ap.add_argument("--member-args", default="", help="more flags for every member")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="petcd-hop-trace-") as work:
        trace_dir = os.path.join(work, "trace")
        os.mkdir(trace_dir)
        os.environ["PETCD_HOPTRACE"] = trace_dir
        try:
            members = start_cluster("petcd", args.size, work,
                                    extra_args=tuple(shlex.split(args.member_args)))
        finally:
            del os.environ["PETCD_HOPTRACE"]
        try:
            leader = find_leader(members) if args.size > 1 else members[0]
            _put_loop(leader.url, args.puts)
        finally:
            stop_all(members)
        puts, rows = table(trace_dir, leader.name)
    day = datetime.date.today().isoformat()
    cmd = "python -m petcd.bench.hop_trace " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"hop_trace, {day}, commit {_commit()}: `{cmd.strip()}` ({puts} sequential HTTP "
          f"puts to the leader of {args.size}; other members' points are prefixed with "
          f"their name)\n")
    print("| point (stage, event) | median us from arrival | p90 us | median step us |")
    print("|---|---:|---:|---:|")
    for key, med, p90, step in rows:
        print(f"| {key} | {med:,.0f} | {p90:,.0f} | {step:,.0f} |")


if __name__ == "__main__":
    main()
