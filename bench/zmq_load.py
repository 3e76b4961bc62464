"""Load over petcd's native ZeroMQ API: puts (or ranges) with many requests in flight.

Usage: python -m petcd.bench.zmq_load --endpoint tcp://127.0.0.1:2378 [--op put|range]
       [--in-flight 256] [--connections 4] [--seconds 10]

Each connection is a DEALER socket that keeps `in-flight` requests outstanding, replacing each
answered one at once. Prints requests/s and latency percentiles; timings are reported, never
asserted.
"""
from __future__ import annotations

import argparse
import os
import time

import msgpack
import zmq


def run(endpoint: str, op: str, in_flight: int, connections: int, seconds: float,
        value_bytes: int = 64) -> dict:
    ctx = zmq.Context()
    socks = []
    for _ in range(connections):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        socks.append(s)
    value = b"v" * value_bytes
    prefix = os.urandom(4).hex().encode()
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    next_id = 0
    errors = 0

    def send(sock) -> None:
        nonlocal next_id
        next_id += 1
        if op == "put":
            req = {"key": prefix + b"%011d" % next_id, "value": value}
            frame = {"id": next_id, "method": "Put", "request": req}
        else:
            frame = {"id": next_id, "method": "Range", "request": {"key": b"bench-key"}}
        sent_at[next_id] = time.perf_counter()
        sock.send(msgpack.packb(frame))  # small frames: copying is cheaper than zero-copy

    if op == "range":
        s = socks[0]
        s.send(msgpack.packb({"id": 0, "method": "Put",
                              "request": {"key": b"bench-key", "value": value}}))
        s.recv()
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
        for _ in range(in_flight):
            send(s)
    start = time.perf_counter()
    deadline = start + seconds
    done = 0
    while time.perf_counter() < deadline:
        for s, _ in poller.poll(100):
            while True:
                try:
                    frame = s.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.perf_counter()
                ans = msgpack.unpackb(frame, raw=False)
                t0 = sent_at.pop(ans["id"], None)
                if t0 is not None:
                    latencies.append(now - t0)
                if "error" in ans:
                    errors += 1
                done += 1
                if now < deadline:
                    send(s)
    elapsed = time.perf_counter() - start
    for s in socks:
        s.close(0)
    ctx.term()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 \
            if latencies else float("nan")

    return {"requests_per_s": done / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "errors": errors, "requests": done}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:2378")
    ap.add_argument("--op", choices=("put", "range"), default="put")
    ap.add_argument("--in-flight", type=int, default=256)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    r = run(a.endpoint, a.op, a.in_flight, a.connections, a.seconds)
    print(f"{a.op}: {r['requests_per_s']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
          f"p99 {r['p99_ms']:.2f} ms, {r['errors']} errors")


if __name__ == "__main__":
    main()
