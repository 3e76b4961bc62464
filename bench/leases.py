"""Leases at scale: grant N leases with one key each, keep half alive, let the other half expire,
and watch the expiry storm.

Usage: python -m petcd.bench.leases [--leases 100000] [--ttl S] [--lease-revoke-rate 1000]
       [--etcd]    (also run etcd 3.4.23 over its HTTP gateway, after petcd)

Theory of operation: one member (petcd over its native ZeroMQ API, many calls in flight on one
DEALER socket; etcd over HTTP from a pool of threads, each with a keep-alive connection) gets,
one phase after the other: N `LeaseGrant`s with ids chosen here and TTL `--ttl`; N `Put`s, one
key per lease, `lease/keep/<i>` for even i and `lease/expire/<i>` for odd i; then one pass of
`LeaseKeepAlive` over the kept half as fast as it goes (the keep-alive rate). From then on a
thread renews the kept half every TTL/3, as etcd's clients do, until the end. The expiring half
expires TTL after its grants; the leader revokes at most `--lease-revoke-rate` leases a second
(etcd: 1000, fixed, 500 every 500 ms; petcd: a token bucket holding up to one second's worth, so
a storm starts with a burst), each revoke deleting its key. During that storm a single
connection writes one put after another (their p50/p99, against the same measure taken before
the storm), the count of `lease/expire/` keys is polled until it reaches 0, and
`maintenance/status` is polled for the leader and raft term: a changed term means an election
happened. At the end every kept key must still be there. The TTL must outlast the grant and
put phases (the default grows with N); the run stops with a message if it did not. Timings are
reported, never asserted.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import msgpack
import zmq
from tqdm import tqdm

from .servers import b64, start_cluster, status, stop_all

LEASE_ID_BASE = 1_000_000
KEEP, EXPIRE = b"lease/keep/", b"lease/expire/"
ZMQ_IN_FLIGHT = 256         # calls outstanding on the one DEALER socket
HTTP_THREADS = 32           # etcd: connections, one per thread
CALL_TIMEOUT_S = 30.0
BASELINE_S = 3.0            # put latency measured before the storm, for comparison
POLL_S = 0.25


def prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


class CallError(Exception):
    pass


def _keepalive_check(resp: dict) -> str | None:
    return None if int(resp.get("ttl", resp.get("TTL", 0)) or 0) > 0 else "renewed with TTL 0"


class ZmqClient:
    """petcd's native API: msgpack frames on a DEALER socket; answers come back by id."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, int(CALL_TIMEOUT_S * 1000))
        self.sock.connect(endpoint)
        self.next_id = 0

    def close(self) -> None:
        self.sock.close(0)

    def _send(self, method: str, request: dict) -> None:
        self.next_id += 1
        self.sock.send(msgpack.packb({"id": self.next_id, "method": method,
                                      "request": request}))

    def _recv(self) -> dict:
        try:
            return msgpack.unpackb(self.sock.recv(), raw=False)
        except zmq.Again:
            raise CallError(f"no answer in {CALL_TIMEOUT_S:.0f} s") from None

    def call(self, method: str, request: dict) -> dict:
        self._send(method, request)
        ans = self._recv()
        if "error" in ans:
            raise CallError(ans["error"]["message"])
        return ans["response"]

    def call_many(self, method: str, requests, bar=None, check=None) -> Counter:
        """Every request, ZMQ_IN_FLIGHT at a time; returns a count of each error message."""
        errors: Counter[str] = Counter()
        it = iter(requests)
        pending = 0
        for req in it:
            self._send(method, req)
            pending += 1
            if pending == ZMQ_IN_FLIGHT:
                break
        while pending:
            ans = self._recv()
            pending -= 1
            err = ans["error"]["message"] if "error" in ans else \
                check(ans["response"]) if check else None
            if err:
                errors[err] += 1
            if bar is not None:
                bar.update(1)
            req = next(it, None)
            if req is not None:
                self._send(method, req)
                pending += 1
        return errors

    def count(self, prefix: bytes) -> int:
        return int(self.call("Range", {"key": prefix, "range_end": prefix_end(prefix),
                                       "count_only": True}).get("count", 0))


HTTP_ROUTES = {"LeaseGrant": "/v3/lease/grant", "Put": "/v3/kv/put",
               "LeaseKeepAlive": "/v3/lease/keepalive", "Range": "/v3/kv/range"}


def _to_gateway(method: str, r: dict) -> dict:
    """The native request as etcd's gateway JSON (bytes in base64, its field names)."""
    if method == "LeaseGrant":
        return {"TTL": r["ttl"], "ID": r["id"]}
    if method == "LeaseKeepAlive":
        return {"ID": r["id"]}
    return {k: b64(v) if isinstance(v, bytes) else v for k, v in r.items()}


class HttpClient:
    """etcd's HTTP gateway from a pool of threads, one keep-alive connection each."""

    def __init__(self, url: str) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(HTTP_THREADS)

    def close(self) -> None:
        self.pool.shutdown()

    def call(self, method: str, request: dict) -> dict:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, int(self.port),
                                                                timeout=CALL_TIMEOUT_S)
        try:
            conn.request("POST", HTTP_ROUTES[method], json.dumps(_to_gateway(method, request)),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            body = json.loads(r.read() or b"{}")
        except (OSError, http.client.HTTPException, ValueError) as e:
            conn.close()
            self.local.conn = None
            raise CallError(type(e).__name__) from e
        if r.status != 200 or "error" in body:
            err = body.get("error", body)
            raise CallError(err.get("message", str(err)) if isinstance(err, dict) else str(err))
        return body.get("result", body)  # keepalive is a stream of {"result": ...}

    def call_many(self, method: str, requests, bar=None, check=None) -> Counter:
        errors: Counter[str] = Counter()
        lock = threading.Lock()

        def one(req: dict) -> None:
            try:
                resp = self.call(method, req)
                err = check(resp) if check else None
            except CallError as e:
                err = str(e)
            with lock:
                if err:
                    errors[err] += 1
                if bar is not None:
                    bar.update(1)

        list(self.pool.map(one, requests))
        return errors

    def count(self, prefix: bytes) -> int:
        return int(self.call("Range", {"key": prefix, "range_end": prefix_end(prefix),
                                       "count_only": True}).get("count", 0))


class Sequential(threading.Thread):
    """Puts one after another on a client of its own; latencies in seconds."""

    def __init__(self, make_client) -> None:
        super().__init__(daemon=True)
        self.make_client = make_client
        self.latencies_s: list[float] = []
        self.errors: Counter[str] = Counter()
        self.stop_event = threading.Event()

    def run(self) -> None:
        client = self.make_client()
        try:
            i = 0
            while not self.stop_event.is_set():
                i += 1
                t0 = time.perf_counter()
                try:
                    client.call("Put", {"key": b"lease/probe/%09d" % i, "value": b"v" * 64})
                    self.latencies_s.append(time.perf_counter() - t0)
                except CallError as e:
                    self.errors[str(e)] += 1
        finally:
            client.close()


class KeepAliveLoop(threading.Thread):
    """Renews every kept lease every `period_s`, like a client's keep-alive loop."""

    def __init__(self, make_client, ids: list[int], period_s: float) -> None:
        super().__init__(daemon=True)
        self.make_client, self.ids, self.period_s = make_client, ids, period_s
        self.errors: Counter[str] = Counter()
        self.pass_durations_s: list[float] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        client = self.make_client()
        try:
            while not self.stop_event.wait(self.period_s):
                t0 = time.monotonic()
                self.errors += client.call_many("LeaseKeepAlive", ({"id": i} for i in self.ids),
                                                check=_keepalive_check)
                self.pass_durations_s.append(time.monotonic() - t0)
        finally:
            client.close()


def pct_ms(values_s: list[float], p: float) -> float:
    if not values_s:
        return float("nan")
    v = sorted(values_s)
    return v[min(len(v) - 1, int(p * len(v)))] * 1000


def measure_puts(make_client, seconds: float) -> Sequential:
    s = Sequential(make_client)
    s.start()
    time.sleep(seconds)
    s.stop_event.set()
    s.join(CALL_TIMEOUT_S)
    return s


def run(kind: str, member, args) -> dict:
    n = args.leases
    ctx = zmq.Context()
    make_client = (lambda: ZmqClient(ctx, member.zmq_url)) if kind == "petcd" else \
        (lambda: HttpClient(member.url))
    client = make_client()
    threads: list[threading.Thread] = []
    out: dict = {"leases": n, "ttl_s": args.ttl}
    try:
        kept_ids = [LEASE_ID_BASE + i for i in range(0, n, 2)]
        n_expire = n - len(kept_ids)

        t0 = time.monotonic()
        with tqdm(total=n, desc=f"{kind} grant", unit="lease", file=sys.stderr) as bar:
            errs = client.call_many("LeaseGrant", ({"ttl": args.ttl, "id": LEASE_ID_BASE + i}
                                                   for i in range(n)), bar)
        t_granted = time.monotonic()
        out["grant_per_s"], out["grant_errors"] = n / (t_granted - t0), dict(errs)
        # The expiring half expires between these two (the leader starts each TTL at its grant).
        first_expiry, last_expiry = t0 + args.ttl, t_granted + args.ttl

        with tqdm(total=n, desc=f"{kind} put", unit="key", file=sys.stderr) as bar:
            errs = client.call_many("Put", ({"key": (KEEP if i % 2 == 0 else EXPIRE) + b"%08d" % i,
                                             "value": b"v" * 64, "lease": LEASE_ID_BASE + i}
                                            for i in range(n)), bar)
        t_attached = time.monotonic()
        out["attach_per_s"], out["attach_errors"] = n / (t_attached - t_granted), dict(errs)

        with tqdm(total=len(kept_ids), desc=f"{kind} keep-alive", unit="lease",
                  file=sys.stderr) as bar:
            errs = client.call_many("LeaseKeepAlive", ({"id": i} for i in kept_ids), bar,
                                    check=_keepalive_check)
        t_renewed = time.monotonic()
        out["keepalive_per_s"] = len(kept_ids) / (t_renewed - t_attached)
        out["keepalive_errors"] = dict(errs)
        if t_renewed > first_expiry - BASELINE_S - 1:
            raise SystemExit(f"the set-up took {t_renewed - t0:.0f} s, too close to the TTL "
                             f"({args.ttl} s): leases expired before the storm; raise --ttl")
        keeper = KeepAliveLoop(make_client, kept_ids, args.ttl / 3)
        keeper.start()
        threads.append(keeper)

        before = status(member.url)
        base = measure_puts(make_client, BASELINE_S)
        out["put_before_p50_ms"] = pct_ms(base.latencies_s, 0.5)
        out["put_before_p99_ms"] = pct_ms(base.latencies_s, 0.99)

        time.sleep(max(0.0, first_expiry - 0.5 - time.monotonic()))
        probe = Sequential(make_client)
        probe.start()
        threads.append(probe)
        terms, leaders = {before["raft_term"]}, {before["leader"]}
        deadline = last_expiry + 2 * n_expire / args.lease_revoke_rate + 60
        left = n_expire
        t_first_revoke = None
        with tqdm(total=n_expire, desc=f"{kind} expiry (keys revoked)", unit="key",
                  file=sys.stderr) as bar:
            while left and time.monotonic() < deadline:
                time.sleep(POLL_S)
                now_left = client.count(EXPIRE)
                bar.update(left - now_left)
                if t_first_revoke is None and now_left < n_expire:
                    t_first_revoke = time.monotonic()
                left = now_left
                try:
                    st = status(member.url)
                    terms.add(st["raft_term"])
                    leaders.add(st["leader"])
                except (OSError, ValueError, KeyError):
                    leaders.add(None)
        t_gone = time.monotonic()
        probe.stop_event.set()
        probe.join(CALL_TIMEOUT_S)
        keeper.stop_event.set()
        keeper.join(CALL_TIMEOUT_S + args.ttl)

        out["expired_left"] = left
        out["revoked_after_last_expiry_s"] = t_gone - last_expiry
        out["revoke_span_s"] = t_gone - first_expiry
        # Negative would mean a lease expired before its TTL ran out.
        out["first_revoke_after_first_expiry_s"] = (t_first_revoke or t_gone) - first_expiry
        out["revoked_per_s"] = (n_expire - left) / (t_gone - first_expiry)
        out["put_storm_p50_ms"] = pct_ms(probe.latencies_s, 0.5)
        out["put_storm_p99_ms"] = pct_ms(probe.latencies_s, 0.99)
        out["put_storm_errors"] = dict(probe.errors)
        out["raft_terms"], out["leaders"] = sorted(terms), len(leaders)
        out["leader_kept"] = len(terms) == 1 and len(leaders) == 1
        out["keepalive_loop_errors"] = dict(keeper.errors)
        out["keepalive_pass_s"] = [round(d, 2) for d in keeper.pass_durations_s]
        out["kept_keys_left"] = client.count(KEEP)
        out["kept_keys_expected"] = len(kept_ids)
        return out
    finally:
        for t in threads:
            t.stop_event.set()
        client.close()
        for t in threads:
            t.join(CALL_TIMEOUT_S)
        ctx.term()


def table(results: dict) -> str:
    kinds = list(results)
    rows = ["| " + " | ".join(["leases at scale"] + [k for k in kinds]) + " |",
            "|---|" + "---:|" * len(kinds)]

    def row(label: str, fmt) -> None:
        rows.append(f"| {label} | " + " | ".join(fmt(results[k]) for k in kinds) + " |")

    row("leases granted, 1 key each", lambda r: f"{r['leases']:,}")
    row("grant, leases/s", lambda r: f"{r['grant_per_s']:,.0f}")
    row("attach (put with lease), puts/s", lambda r: f"{r['attach_per_s']:,.0f}")
    row("keep-alive, renewals/s", lambda r: f"{r['keepalive_per_s']:,.0f}")
    row("first expired key gone, s after the first expiry (poll every 0.25 s)",
        lambda r: f"{r['first_revoke_after_first_expiry_s']:.1f}")
    row("all expired keys gone, s after the first expiry", lambda r: f"{r['revoke_span_s']:.1f}")
    row("all expired keys gone, s after the last expiry",
        lambda r: f"{r['revoked_after_last_expiry_s']:.1f}")
    row("revoke rate over the storm, leases/s", lambda r: f"{r['revoked_per_s']:,.0f}")
    row("put p50 / p99 ms, before the storm",
        lambda r: f"{r['put_before_p50_ms']:.2f} / {r['put_before_p99_ms']:.2f}")
    row("put p50 / p99 ms, during the storm",
        lambda r: f"{r['put_storm_p50_ms']:.2f} / {r['put_storm_p99_ms']:.2f}")
    row("leader kept (raft term unchanged)",
        lambda r: "yes" if r["leader_kept"] else f"no, terms {r['raft_terms']}")
    row("kept keys left / expected",
        lambda r: f"{r['kept_keys_left']:,} / {r['kept_keys_expected']:,}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leases", type=int, default=100_000)
    ap.add_argument("--ttl", type=int, help="seconds; default 20 + leases/2000")
    ap.add_argument("--lease-revoke-rate", type=int, default=1000,
                    help="petcd's --lease-revoke-rate (etcd's is fixed at 1000)")
    ap.add_argument("--etcd", nargs="?", const=shutil.which("etcd") or "/usr/bin/etcd",
                    help="also run etcd 3.4 (this binary) over HTTP, after petcd")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--workdir", help="data dir and log here, kept (default: a temp dir)")
    args = ap.parse_args()
    args.ttl = args.ttl or 20 + math.ceil(args.leases / 2000)
    results = {}
    with tempfile.TemporaryDirectory(prefix="petcd-lease-bench-") as tmp:
        work = args.workdir or tmp
        os.makedirs(work, exist_ok=True)
        for kind in ("petcd", "etcd") if args.etcd else ("petcd",):
            extra = () if kind == "etcd" else ("--lease-revoke-rate",
                                               str(args.lease_revoke_rate))
            member, = start_cluster(kind, 1, work, args.etcd or "/usr/bin/etcd", extra)
            try:
                results[kind] = run(kind, member, args)
            finally:
                stop_all([member])
            print(f"{kind}: {results[kind]}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))
    for kind, r in results.items():
        errs = {k: r[k] for k in ("grant_errors", "attach_errors", "keepalive_errors",
                                  "keepalive_loop_errors", "put_storm_errors") if r[k]}
        if errs or r["expired_left"]:
            print(f"\nwarning: {kind}: {errs}, expiring keys left: {r['expired_left']}")


if __name__ == "__main__":
    main()
