"""Watch at scale: 10,000 watchers on one member while a writer puts 1,000 keys a second.

Usage (from the repo root; each mode is one run of well under 60 s):
    python -m petcd.bench.watch_scale [--watchers 10000] [--keys 10000] [--connections 10]
        [--streams 10] [--rate 1000] [--seconds 15] [--modes petcd-zmq,petcd-http,etcd-http]

Modes: `petcd-zmq` watches over native streams (`streams` per connection); `petcd-http` and
`etcd-http` watch over the gateway (one watch stream per HTTP connection, each holding
watchers/connections watchers). The writer is the same in every mode (`--writer http`: 16
connections, each paced at rate/16), so put latencies compare across modes; `--writer native`
writes petcd's puts over the native API instead, pipelined on one connection. Watcher j watches
key w/<j mod keys>, so each put reaches watchers/keys watchers. For each mode: a fresh member;
writes alone for a few seconds (the baseline put latency); then the watchers are created by a
reader process (watch_readers.py); then puts at `rate` for `seconds`, each value the monotonic
time of its put call. Reported: events delivered of expected, delivered events/s, delay from
put call to receipt (p50/p99/max), put latency during the fan-out against the baseline, and
the serving process's CPU during the fan-out and its RSS (petcd: its api stage; etcd: etcd)
before the watchers, once they exist, at its peak during the writes, and at the end. Timings are for reading, never
asserted.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
import sys
import time

import msgpack
import zmq

from petcd.bench.servers import Member, b64
from petcd.bench.watch_readers import key_of, reader_main


def note(t0: float, what: str) -> None:
    print(f"  [{time.monotonic() - t0:6.1f} s] {what}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else 0.0


def write_zmq(port: int, rate: float, seconds: float, keys: int, start: int) -> list[float]:
    """Puts over the native API at `rate`, pipelined (a put's latency is call to answer)."""
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(f"tcp://127.0.0.1:{port}")
    total, sent_at, lat = int(rate * seconds), {}, []
    t0 = time.monotonic()
    n = 0
    while n < total or sent_at:
        now = time.monotonic()
        while n < total and t0 + n / rate <= now:
            now = time.monotonic()
            s.send(msgpack.packb({"id": n, "method": "Put", "request": {
                "key": key_of(start + n, keys), "value": repr(now).encode()}}))
            sent_at[n] = now
            n += 1
        wait_ms = max(0, int((t0 + n / rate - time.monotonic()) * 1000)) if n < total else 1000
        if s.poll(wait_ms, zmq.POLLIN):
            while s.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                ans = msgpack.unpackb(s.recv(zmq.NOBLOCK), raw=False)
                lat.append(time.monotonic() - sent_at.pop(ans["id"]))
        elif n >= total:
            break  # answers lost: stop waiting
    s.close(0)
    ctx.term()
    return lat


def write_http(port: int, rate: float, seconds: float, keys: int, start: int,
               threads: int = 16) -> list[float]:
    """Puts over HTTP at `rate`, from `threads` connections each paced at rate/threads."""
    total, lat, lock = int(rate * seconds), [], threading.Lock()
    t0 = time.monotonic()

    def run(k: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for n in range(k, total, threads):
            pause = t0 + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent = time.monotonic()
            body = json.dumps({"key": b64(key_of(start + n, keys)),
                               "value": b64(repr(sent).encode())})
            c.request("POST", "/v3/kv/put", body=body)
            c.getresponse().read()
            mine.append(time.monotonic() - sent)
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat


def run_mode(mode: str, args, workdir: str) -> dict:
    kind, proto = mode.split("-")
    workdir = tempfile.mkdtemp(prefix=mode + "-", dir=workdir)  # a fresh member per mode
    start = time.monotonic()
    m = Member(kind, "bench", workdir, args.etcd).launch().wait_ready()
    note(start, f"{mode}: member up")
    try:
        pid = m.stage_pids()["api"] if kind == "petcd" else m.proc.pid
        port = m.zmq_port if proto == "zmq" else m.client_port
        native = args.writer == "native" and kind == "petcd"
        wport = m.zmq_port if native else m.client_port

        def write(seconds: float) -> list[float]:
            fn = write_zmq if native else write_http
            return sorted(fn(wport, args.rate, seconds, args.keys, 0))

        base = write(args.baseline_seconds)
        note(start, "baseline writes done")
        rss0 = rss_mb(pid)
        parent, child = mp.Pipe()
        t0 = time.monotonic()
        reader = mp.get_context("fork").Process(target=reader_main, args=(
            child, proto, port, args.connections, args.watchers // args.connections,
            args.streams, args.keys), daemon=True)
        reader.start()
        if not parent.poll(120):
            raise RuntimeError("watchers not created in 120 s")
        _, created = parent.recv()
        setup_s = time.monotonic() - t0
        note(start, f"{created} watchers created")
        rss1 = rss_mb(pid)
        peak, sampling = [rss1], threading.Event()

        def sample() -> None:
            while not sampling.wait(0.25):
                peak.append(rss_mb(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        w0, c0 = time.monotonic(), cpu_s(pid)
        lat = write(args.seconds)
        wrote_s = time.monotonic() - w0
        cpu = (cpu_s(pid) - c0) / wrote_s
        note(start, "writes done")
        expected = int(args.rate * args.seconds) * (args.watchers // args.keys)
        parent.send((expected, time.monotonic() + 15))
        _, raw, last_s, _ = parent.recv()
        sampling.set()
        sampler.join()
        reader.join(10)
        note(start, "events read")
        import array
        delays = array.array("d")
        delays.frombytes(raw)
        d = sorted(delays)
        return {
            "mode": mode, "watchers": created, "delivered": len(d), "expected": expected,
            "events_per_s": len(d) / max(1e-9, last_s - w0) if d else 0.0,
            "p50_ms": pct(d, 0.5), "p99_ms": pct(d, 0.99),
            "max_ms": d[-1] * 1000 if d else 0.0, "setup_s": setup_s,
            "puts_per_s": len(lat) / wrote_s, "put_p50_ms": pct(lat, 0.5),
            "put_p99_ms": pct(lat, 0.99), "base_p50_ms": pct(base, 0.5),
            "base_p99_ms": pct(base, 0.99), "rss": (rss0, rss1, max(peak), rss_mb(pid)),
            "cpu": cpu}
    finally:
        m.stop()
        note(start, "member stopped")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--watchers", type=int, default=10_000)
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--streams", type=int, default=10, help="native streams per connection")
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--baseline-seconds", type=float, default=3)
    ap.add_argument("--modes", default="petcd-zmq,petcd-http,etcd-http")
    ap.add_argument("--writer", choices=("http", "native"), default="http")
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    args = ap.parse_args()
    print(f"{args.watchers} watchers on {args.keys} keys, {args.connections} connections "
          f"({args.streams} native streams each over ZeroMQ), {args.rate:g} puts/s for "
          f"{args.seconds:g} s\n")
    print("| mode | watchers | delivered/expected | events/s | delay p50 / p99 / max ms | "
          "puts/s | put p50 / p99 ms (no watchers) | put p50 / p99 ms (fan-out) | "
          "server CPU % (fan-out) | RSS MB before / watchers / peak / end | setup s |")
    print("|---|---:|---|---:|---|---:|---|---|---:|---|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            r = run_mode(mode, args, tmp)
            print(f"| {r['mode']} | {r['watchers']} | {r['delivered']}/{r['expected']} | "
                  f"{r['events_per_s']:.0f} | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} / "
                  f"{r['max_ms']:.0f} | {r['puts_per_s']:.0f} | "
                  f"{r['base_p50_ms']:.2f} / {r['base_p99_ms']:.1f} | "
                  f"{r['put_p50_ms']:.2f} / {r['put_p99_ms']:.1f} | {100 * r['cpu']:.0f} | "
                  + " / ".join(f"{x:.0f}" for x in r["rss"]) + f" | {r['setup_s']:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
