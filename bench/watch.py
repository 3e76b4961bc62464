"""Watch delivery: events/s delivered and the delay from write to delivery, petcd vs etcd.

Usage: python -m petcd.bench.watch [--watchers 100] [--streams 4] [--rate 200] [--seconds 5]
                                   [--etcd /usr/bin/etcd] [--no-etcd]

Starts each server (as bench/etcd_compare.py does), opens `streams` HTTP watch streams holding
`watchers` watchers in all, every one on the prefix `w/`, so each write is delivered `watchers`
times. A writer puts `rate` keys per second for `seconds`, each value holding its send time;
one reader thread per stream parses the events and records the delay. Prints delivered
events/s, p50/p99/max delay and any missing events. Timings are for reading, not for tests.
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import tempfile
import threading
import time

from petcd.bench.servers import Member
from tests.conformance.watch_client import WatchConn


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def run(server: Member, watchers: int, streams: int, rate: float, seconds: float) -> dict:
    port = int(server.url.rsplit(":", 1)[1])
    conns, per = [], [watchers // streams + (i < watchers % streams) for i in range(streams)]
    for k in per:
        c = WatchConn(port, timeout_s=30)
        c.send("".join(json.dumps({"create_request": {"key": b64(b"w/"),
                                                      "range_end": b64(b"w0")}})
                       for _ in range(k)))
        for _ in range(k):
            c.read_line()
        conns.append(c)
    total = int(rate * seconds)
    delays: list[float] = []
    counts = [0] * len(conns)
    lock = threading.Lock()

    def reader(i: int, c: WatchConn, expect: int) -> None:
        mine = []
        try:
            while counts[i] < expect:
                r = c.read_line()["result"]
                now = time.monotonic()
                for e in r.get("events", ()):
                    sent = float(base64.b64decode(e["kv"]["value"]))
                    mine.append(now - sent)
                    counts[i] += 1
        except OSError:
            pass
        with lock:
            delays.extend(mine)

    threads = [threading.Thread(target=reader, args=(i, c, per[i] * total), daemon=True)
               for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    import http.client
    w = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.monotonic()
    for n in range(total):
        due = t0 + n / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        body = json.dumps({"key": b64(b"w/%d" % (n % 1000)),
                           "value": b64(repr(time.monotonic()).encode())})
        w.request("POST", "/v3/kv/put", body=body)
        w.getresponse().read()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - t0
    for c in conns:
        c.close()
    delays.sort()
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000 if delays else 0  # noqa: E731
    return {"delivered": len(delays), "expected": total * watchers,
            "events_per_s": len(delays) / elapsed, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
            "max_ms": delays[-1] * 1000 if delays else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--no-etcd", action="store_true")
    args = ap.parse_args()
    kinds = ["petcd"] + ([] if args.no_etcd else ["etcd"])
    print(f"{args.watchers} watchers on {args.streams} streams, {args.rate:g} puts/s for "
          f"{args.seconds:g} s\n")
    print("| server | delivered/expected | events/s | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            server = Member(kind, "bench", tempfile.mkdtemp(prefix=kind, dir=tmp),
                            args.etcd).launch().wait_ready()
            try:
                r = run(server, args.watchers, args.streams, args.rate, args.seconds)
            finally:
                server.stop()
            print(f"| {kind} | {r['delivered']}/{r['expected']} | {r['events_per_s']:.0f} | "
                  f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")


if __name__ == "__main__":
    main()
