"""Put or range load through petcd.client.AsyncClient over the native ZeroMQ path.

Usage: python -m petcd.bench.client_load --endpoint tcp://127.0.0.1:2378 [--op put|range]
       [--in-flight 256] [--requests 20000]

Keeps `in-flight` calls outstanding (asyncio tasks on one connection), shows a live progress
bar (tqdm), then prints throughput and latency percentiles. Timings are reported, never
asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time

from tqdm import tqdm

from petcd.client import AsyncClient


async def run(endpoint: str, op: str, in_flight: int, requests: int, value_bytes: int = 64):
    latencies: list[float] = []
    errors = 0
    prefix = os.urandom(4).hex()
    value = "v" * value_bytes
    async with AsyncClient(endpoint, timeout_s=30) as c:
        if op == "range":
            await c.put("bench-key", value)
        queue = iter(range(requests))
        bar = tqdm(total=requests, unit="req", smoothing=0.1)

        async def worker() -> None:
            nonlocal errors
            for i in queue:
                t0 = time.perf_counter()
                try:
                    if op == "put":
                        await c.put(f"{prefix}{i:011d}", value)
                    else:
                        await c.get("bench-key")
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - t0)
                bar.update(1)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - start
        bar.close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"requests_per_s": requests / elapsed, "p50_ms": pct(0.5), "p90_ms": pct(0.9),
            "p99_ms": pct(0.99), "errors": errors}


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
