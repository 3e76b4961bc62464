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
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import zmq_load

HERE = Path(__file__).resolve().parent
WRK_DIR = HERE / "wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url + "/v3/kv/range", data=b'{"key":"YQ=="}',
                                         method="POST")
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def put(url: str, key: bytes, value: bytes) -> None:
    body = json.dumps({"key": base64.b64encode(key).decode(),
                       "value": base64.b64encode(value).decode()}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/v3/kv/put", data=body,
                                                  method="POST"), timeout=10).read()


class Server:
    def __init__(self, kind: str, workdir: str, etcd_binary: str, api_workers: int = 1) -> None:
        self.kind = kind
        self.client_port, self.peer_port, self.zmq_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        data = os.path.join(workdir, kind)
        common = ["--name", "bench", "--data-dir", data, "--listen-client-urls", self.url,
                  "--advertise-client-urls", self.url, "--listen-peer-urls", peer,
                  "--initial-advertise-peer-urls", peer, "--initial-cluster", f"bench={peer}"]
        if kind == "etcd":
            cmd = [etcd_binary, *common, "--log-outputs", "stderr", "--log-level", "error"]
        else:
            cmd = [sys.executable, "-m", "petcd.supervisor", *common,
                   "--listen-client-zmq-urls", f"tcp://127.0.0.1:{self.zmq_port}",
                   "--log-level", "warn", "--api-workers", str(api_workers)]
        self.log = open(os.path.join(workdir, f"{kind}.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_healthy(self.url)
        put(self.url, b"bench-key", b"v" * 64)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(url: str, script: str, connections: int, seconds: float) -> dict:
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s", "--latency",
         "-s", str(WRK_DIR / script), url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99,
            "non2xx": int(errors.group(1)) if errors else 0}


def _ms(text: str) -> float:
    num, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


WORKLOADS = [("put, 64 connections", "put.lua", 64), ("linearizable range, 64 connections",
                                                      "range.lua", 64),
             ("put, 1 connection", "put.lua", 1)]


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
            server = Server(kind, work, args.etcd, args.api_workers)
            try:
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
                server.stop()
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
