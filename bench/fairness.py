"""How much one flooding native client delays another client's put, on one petcd member.

Usage: python -m petcd.bench.fairness [--calls 100000] [--probes 300]
                                      [--member-args "--zmq-max-requests-per-connection 128"]

Theory of operation: one member alone. First a probe client puts one key after another,
alternating an HTTP put (the gateway, one keep-alive connection) and a native put (ZeroMQ, the
Python client, a connection of its own), --probes of each: their latencies alone. Then, twice,
one native connection sends --calls calls back to back and never reads an answer, and the
probe runs again for as long as the member is still serving that flood:

- a Range flood (serializable reads of one small key, which the api serves itself: what
  loads the api's loop, shared with HTTP and gRPC); it is over once a put sent after it on
  the same connection has been applied (a connection's calls are read in order);
- a Put flood (what loads raft, wal and apply too, whose batches the probes share); it is over
  once the flood's key stops gaining versions (read every 20 probes).

The bench prints p50, p99 and the longest put of each kind alone and during each flood, how
long the member served each flood and how many of its calls --zmq-max-requests-per-connection
refused, and the figure of merit: the p99 during a flood over the p99 alone. Timings are
printed, never asserted.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import sys
import tempfile
import time

import msgpack
import zmq

from petcd.client import Client

from .defrag_stall import _commit
from .servers import start_cluster, stop_all

FLOOD_TIMEOUT_S = 120.0  # a flood not over by then ends the probing anyway


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


class _HttpProbe:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, doc: dict) -> dict:
        self.conn.request("POST", path, json.dumps(doc).encode(),
                          {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        body = json.loads(r.read() or b"{}")
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {body}")
        return body

    def put(self) -> None:
        self.post("/v3/kv/put", {"key": _b64(b"probe/http"), "value": _b64(b"v")})

    def version(self, key: bytes) -> int:
        kvs = self.post("/v3/kv/range", {"key": _b64(key), "serializable": True}).get("kvs")
        return int(kvs[0].get("version", 0)) if kvs else 0


def _timed(call, samples: list, failures: list) -> None:
    t0 = time.monotonic()
    try:
        call()
    except Exception as e:  # a refused or timed-out put counts with its duration
        failures.append(str(e)[:120])
    samples.append(time.monotonic() - t0)


def _probe(http: _HttpProbe, native: Client, rounds: int | None, while_flooding=None) -> dict:
    """Alternate HTTP and native puts: `rounds` of each, or while while_flooding() holds
    (asked after every 20 rounds: a put comes first, so a stall falls on a probe)."""
    out = {"http": [], "native": [], "failures": []}
    n = 0
    while n < rounds if rounds is not None else (n % 20 or not n or while_flooding()):
        _timed(http.put, out["http"], out["failures"])
        _timed(lambda: native.put("probe/native", "v"), out["native"], out["failures"])
        n += 1
    return out


def _percentile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] if s else float("nan")


def _limit_hits(port: int, limit: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    want = f'petcd_client_limit_hits_total{{front_end="zmq",limit="{limit}"}} '
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith(want):
            return int(float(line.split()[1]))
    return 0


def _flood(m, http: _HttpProbe, native: Client, method: str, calls: int) -> dict:
    """One flood of `calls` calls of `method` on a connection that never reads, probed."""
    key = b"flood/" + method.encode()
    request = ({"key": key, "value": b"v"} if method == "Put"
               else {"key": b"probe/http", "serializable": True})
    frames = [msgpack.packb({"id": i, "method": method, "request": request})
              for i in range(1, calls + 1)]
    end_key = b"flood-end/" + method.encode()
    frames.append(msgpack.packb({"id": 0, "method": "Put",
                                 "request": {"key": end_key, "value": b"v"}}))
    refused_before = _limit_hits(m.client_port, "requests")
    flood = zmq.Context.instance().socket(zmq.DEALER)
    flood.setsockopt(zmq.LINGER, 0)
    flood.setsockopt(zmq.SNDHWM, 0)  # the whole flood leaves at once
    flood.connect(m.zmq_url)
    try:
        t0 = time.monotonic()
        for f in frames:
            flood.send(f)
        last = [-1]

        def flooding() -> bool:
            if time.monotonic() - t0 > FLOOD_TIMEOUT_S:
                return False
            if method == "Range":
                return http.version(end_key) == 0
            v = http.version(key)
            going, last[0] = v != last[0], v
            return going
        during = _probe(http, native, None, flooding)
        return {"during": during, "flood_s": time.monotonic() - t0,
                "refused": _limit_hits(m.client_port, "requests") - refused_before}
    finally:
        flood.close(0)


def measure(calls: int, probes: int, member_args: tuple[str, ...] = ()) -> dict:
    with tempfile.TemporaryDirectory(prefix="petcd-fairness-") as work:
        members = start_cluster("petcd", 1, work, extra_args=member_args)
        try:
            m = members[0]
            http = _HttpProbe(m.client_port)
            with Client(m.zmq_url) as native:
                _probe(http, native, 50)  # warm up both paths
                r = {"alone": _probe(http, native, probes)}
                for method in ("Range", "Put"):
                    r[method] = _flood(m, http, native, method, calls)
        finally:
            stop_all(members)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--probes", type=int, default=300)
    ap.add_argument("--member-args", default="", help="more flags for the member")
    args = ap.parse_args()
    r = measure(args.calls, args.probes, tuple(args.member_args.split()))
    print(f"fairness, {datetime.date.today()}, commit {_commit()}: "
          f"`python -m petcd.bench.fairness {' '.join(sys.argv[1:])}`\n")
    print("| flood | put | alone p50 ms | alone p99 ms | flood p50 ms | flood p99 ms "
          "| flood max ms | p99 flood / alone |\n|---|---|---:|---:|---:|---:|---:|---:|")
    alone = r["alone"]
    for method in ("Range", "Put"):
        for kind in ("http", "native"):
            a, d = alone[kind], r[method]["during"][kind]
            print(f"| {method} | {kind} | {1000 * _percentile(a, 50):.2f} "
                  f"| {1000 * _percentile(a, 99):.2f} | {1000 * _percentile(d, 50):.2f} "
                  f"| {1000 * _percentile(d, 99):.2f} | {1000 * max(d, default=0):.1f} "
                  f"| {_percentile(d, 99) / _percentile(a, 99):.1f} x |")
    for method in ("Range", "Put"):
        f = r[method]
        print(f"\n{method} flood: {args.calls:,} calls on one connection, never read; served "
              f"for {f['flood_s']:.1f} s, {f['refused']:,} refused (too many requests); "
              f"{len(f['during']['http'])} probes of each kind during it, "
              f"{len(f['during']['failures'])} failed {sorted(set(f['during']['failures']))[:3]}")


if __name__ == "__main__":
    main()
