"""Put or range load through petcd.client.AsyncClient over the native ZeroMQ path.

Usage: python -m petcd.bench.client_load --endpoint tcp://127.0.0.1:2378 [--op put|range]
       [--in-flight 256] [--requests 20000]

Keeps `in-flight` calls outstanding on one connection (bench/load.py, the engine under
`petcd-bench`, which has etcd's flags and full report), shows a live progress bar on a
terminal, then prints throughput and latency percentiles in one line. Timings are reported,
never asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import os

from . import load, report


async def run(endpoint: str, op: str, in_flight: int, requests: int, value_bytes: int = 64):
    prefix = os.urandom(4).hex()
    value = "v" * value_bytes

    async def one(c, i: int) -> None:
        if op == "put":
            await c.put(f"{prefix}{i:011d}", value)
        else:
            await c.get("bench-key")

    async with load.open_clients(endpoint, 1, in_flight) as clients:
        if op == "range":
            await clients[0].put("bench-key", value)
        stats = await load.run_total(clients, requests, one)
    lats = stats.latencies_s

    def pct(p: float) -> float:
        return lats[min(len(lats) - 1, int(p * len(lats)))] * 1000 if lats else float("nan")

    return {"requests_per_s": requests / stats.total_s, "p50_ms": pct(0.5),
            "p90_ms": pct(0.9), "p99_ms": pct(0.99),
            "errors": sum(n for _, n in stats.errors), "report": report.format_report(stats)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:2378")
    ap.add_argument("--op", choices=("put", "range"), default="put")
    ap.add_argument("--in-flight", type=int, default=256)
    ap.add_argument("--requests", type=int, default=20000)
    a = ap.parse_args()
    r = asyncio.run(run(a.endpoint, a.op, a.in_flight, a.requests))
    print(f"{a.op}: {r['requests_per_s']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
          f"p90 {r['p90_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['errors']} errors")


if __name__ == "__main__":
    main()
