"""petcd against a real etcd 3.4.23, same machine, same run: wrk over the HTTP gateway API.

Usage: python -m petcd.bench.etcd_compare [--seconds 10] [--etcd /usr/bin/etcd]

Starts one etcd member and one petcd member on free loopback ports in temporary data dirs,
then runs the same workloads against each, one after the other:
  put-64     POST /v3/kv/put, 16-byte keys, 64-byte values, 64 connections
  range-64   POST /v3/kv/range of one key (linearizable), 64 connections
  put-1      POST /v3/kv/put, 1 connection (latency)
and, for petcd only, puts over the native ZeroMQ API with many requests in flight. Prints a
Markdown table with the ratios. Needs `apt-get install etcd-server wrk`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from . import zmq_load
from .servers import put, start_cluster, stop_all
from .wrk_runner import WORKLOADS, wrk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--api-workers", type=int, default=1, help="petcd's --api-workers")
    args = ap.parse_args()
    if not shutil.which("wrk") or not os.path.exists(args.etcd):
        sys.exit("needs wrk and etcd 3.4: apt-get install -y wrk etcd-server")
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="petcd-bench-") as work:
        for kind in ("etcd", "petcd"):
            extra = () if kind == "etcd" else ("--api-workers", str(args.api_workers))
            server, = start_cluster(kind, 1, work, args.etcd, extra)
            try:
                put(server.url, b"bench-key", b"v" * 64)
                for name, script, conns in WORKLOADS:
                    results.setdefault(name, {})[kind] = wrk(server.url, script, conns,
                                                             args.seconds)
                if kind == "petcd":
                    z = zmq_load.run(f"tcp://127.0.0.1:{server.zmq_port}", "put", 256, 4,
                                     args.seconds)
                    results["put, ZeroMQ native, 4x256 in flight"] = {"petcd": {
                        "rps": z["requests_per_s"], "p50_ms": z["p50_ms"],
                        "p99_ms": z["p99_ms"], "non2xx": z["errors"]}}
            finally:
                stop_all([server])
    etcd_put = results["put, 64 connections"]["etcd"]["rps"]
    print("| workload | etcd 3.4.23 req/s | petcd req/s | ratio | etcd p50 ms | petcd p50 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        e, p = r.get("etcd"), r["petcd"]
        base = e["rps"] if e else etcd_put
        ratio = p["rps"] / base
        label = name if e else f"{name} (vs etcd HTTP put, 64 conns)"
        print(f"| {label} | {e['rps']:,.0f} | {p['rps']:,.0f} | {ratio:.2f}x | "
              f"{e['p50_ms']:.2f} | {p['p50_ms']:.2f} |" if e else
              f"| {label} | {base:,.0f} | {p['rps']:,.0f} | {ratio:.2f}x | | "
              f"{p['p50_ms']:.2f} |")
    bad = {k: v for k, r in results.items() for k2, v in r.items() if v["non2xx"]}
    if bad:
        print(f"\nwarning: non-2xx answers: {bad}")


if __name__ == "__main__":
    main()
