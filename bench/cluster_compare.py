"""A 3-member petcd cluster against a 3-member etcd 3.4.23 cluster: throughput against the
leader, and failover time when the leader is killed with SIGKILL.

Usage: python -m petcd.bench.cluster_compare [--seconds 8] [--failovers 3] [--etcd /usr/bin/etcd]

Theory of operation: the two clusters run one after the other, never at once (the machine has
two cores), each of three members on free loopback ports with etcd's default timeouts (100 ms
heartbeat, 1000 ms election). For each, against the leader (the member whose
`/v3/maintenance/status` says `leader == header.member_id`), wrk runs the same workloads as the
one-member comparison (bench/wrk_runner.py). Then failover, `--failovers` times: a thread writes
to a follower, one put after another; the leader's member is killed with SIGKILL (for petcd, its
supervisor and all five stages); the failover time is from the kill to the answer of the first
put *sent* after it that succeeds. A put sent before the kill may be answered after it without
telling anything about the new leader, so it does not count. Each put has a short client
timeout (`--put-timeout-ms`): a put forwarded to a dead leader is lost, and without the timeout
the writer would wait for the server's request timeout (7 s) instead of the election; this
timeout is therefore the resolution of the measure. The killed member is then restarted and
the next round waits until it has caught up (a serializable read on it sees a key written
after its restart). Prints a Markdown table with the ratios petcd/etcd. Timings are reported,
never asserted; needs `apt-get install etcd-server wrk`.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter

from .servers import (Member, b64, find_leader, post_json, put, start_cluster, status,
                      stop_all)
from .wrk_runner import WORKLOADS, wrk

CLUSTER_SIZE = 3
WARMUP_PUTS = 20            # successes before the kill: the writer is steady
FAILOVER_TIMEOUT_S = 60.0
ERROR_PAUSE_S = 0.01        # after a failed put: a member without a leader answers at once


class WriteLoad(threading.Thread):
    """Sequential puts to one member over one keep-alive HTTP connection; records
    (sent_at, answered_at) of each success and a count of each kind of failure after
    `count_errors_after`."""

    def __init__(self, member: Member, timeout_s: float) -> None:
        super().__init__(daemon=True)
        self.member, self.timeout_s = member, timeout_s
        self.successes: list[tuple[float, float]] = []
        self.errors: Counter[str] = Counter()
        self.count_errors_after = float("inf")
        self._stop_event = threading.Event()
        self._conn: http.client.HTTPConnection | None = None

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)

    def successes_sent_after(self, t: float) -> list[tuple[float, float]]:
        return [s for s in list(self.successes) if s[0] >= t]

    def run(self) -> None:
        i = 0
        while not self._stop_event.is_set():
            i += 1
            body = json.dumps({"key": b64(b"failover/%09d" % i), "value": b64(b"v" * 64)})
            sent_at = time.monotonic()
            error = self._put(body)
            done_at = time.monotonic()
            if error is None:
                self.successes.append((sent_at, done_at))
                continue
            if sent_at >= self.count_errors_after:
                self.errors[error] += 1
            self._stop_event.wait(ERROR_PAUSE_S)
        if self._conn is not None:
            self._conn.close()

    def _put(self, body: str) -> str | None:
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.member.client_port,
                                                        timeout=self.timeout_s)
            self._conn.request("POST", "/v3/kv/put", body,
                               {"Content-Type": "application/json"})
            r = self._conn.getresponse()
            data = r.read()
            if r.status == 200:
                return None
            try:
                message = json.loads(data).get("message", data[:80].decode(errors="replace"))
            except ValueError:
                message = data[:80].decode(errors="replace")
            return f"HTTP {r.status}: {message}"
        except (OSError, http.client.HTTPException) as e:
            # A timed-out or broken connection cannot carry the next request.
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            return "client timeout" if isinstance(e, TimeoutError) else type(e).__name__


def wait_caught_up(member: Member, leader: Member, timeout_s: float = 60.0) -> float:
    """Seconds until `member` serves, locally, a key written through `leader` after its
    restart: it has rejoined and applied the log up to there."""
    start = time.monotonic()
    marker = b"rejoin/%d" % time.monotonic_ns()
    put(leader.url, marker, b"x")
    while time.monotonic() - start < timeout_s:
        try:
            r = post_json(member.url, "/v3/kv/range",
                          {"key": b64(marker), "serializable": True}, timeout_s=2)
            if r.get("kvs"):
                return time.monotonic() - start
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{member.name} did not catch up in {timeout_s:.0f} s")


def failover_once(members: list[Member], put_timeout_s: float) -> dict:
    leader = find_leader(members)
    follower = next(m for m in members if m is not leader)
    term_before = status(leader.url)["raft_term"]
    load = WriteLoad(follower, put_timeout_s)
    load.start()
    try:
        deadline = time.monotonic() + 30
        while len(load.successes) < WARMUP_PUTS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"writer got no steady answers from {follower.name}: "
                                   f"{dict(load.errors)}")
            time.sleep(0.01)
        load.count_errors_after = time.monotonic()
        killed_at = leader.kill9()
        load.count_errors_after = killed_at
        deadline = killed_at + FAILOVER_TIMEOUT_S
        while not load.successes_sent_after(killed_at):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no write succeeded {FAILOVER_TIMEOUT_S:.0f} s after the "
                                   f"kill: {dict(load.errors)}")
            time.sleep(0.005)
        first = load.successes_sent_after(killed_at)[0]
    finally:
        load.stop()
    survivors = [m for m in members if m is not leader]
    new_leader = find_leader(survivors)
    leader.launch()
    leader.wait_ready()
    rejoin_s = wait_caught_up(leader, new_leader)
    return {"failover_s": first[1] - killed_at, "killed": leader.name,
            "new_leader": new_leader.name, "term_before": term_before,
            "term_after": status(new_leader.url)["raft_term"],
            "errors": dict(load.errors), "rejoin_s": rejoin_s}


def run_system(kind: str, args, workdir: str) -> dict:
    members = start_cluster(kind, CLUSTER_SIZE, workdir, args.etcd)
    out: dict = {"wrk": {}, "failovers": []}
    try:
        leader = find_leader(members)
        print(f"{kind}: leader {leader.name}", file=sys.stderr)
        put(leader.url, b"bench-key", b"v" * 64)
        for name, script, conns in WORKLOADS:
            out["wrk"][name] = r = wrk(leader.url, script, conns, args.seconds)
            print(f"{kind}: {name}: {r}", file=sys.stderr)
        for i in range(args.failovers):
            f = failover_once(members, args.put_timeout_ms / 1000)
            print(f"{kind}: failover {i + 1}: {f}", file=sys.stderr)
            out["failovers"].append(f)
    finally:
        stop_all(members)
    return out


def table(results: dict) -> str:
    e, p = results["etcd"], results["petcd"]
    rows = ["| 3-member cluster | etcd 3.4.23 | petcd | ratio petcd/etcd |",
            "|---|---:|---:|---:|"]
    for name, _, conns in WORKLOADS:
        ew, pw = e["wrk"][name], p["wrk"][name]
        if conns == 1:
            rows.append(f"| {name}, p50 ms (lower is better) | {ew['p50_ms']:.2f} | "
                        f"{pw['p50_ms']:.2f} | {pw['p50_ms'] / ew['p50_ms']:.2f}x |")
        else:
            rows.append(f"| {name}, req/s | {ew['rps']:,.0f} | {pw['rps']:,.0f} | "
                        f"{pw['rps'] / ew['rps']:.2f}x |")
    ef = [f["failover_s"] for f in e["failovers"]]
    pf = [f["failover_s"] for f in p["failovers"]]
    for i, (a, b) in enumerate(zip(ef, pf)):
        rows.append(f"| failover {i + 1}, kill -9 leader to first write, s | {a:.2f} | "
                    f"{b:.2f} | {b / a:.2f}x |")
    if ef and pf:
        em, pm = statistics.median(ef), statistics.median(pf)
        rows.append(f"| failover, median, s | {em:.2f} | {pm:.2f} | {pm / em:.2f}x |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=8, help="per wrk workload")
    ap.add_argument("--failovers", type=int, default=3)
    ap.add_argument("--put-timeout-ms", type=int, default=200,
                    help="client timeout of each put of the failover writer")
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--workdir", help="data dirs and member logs here, kept (default: a temp "
                    "dir, removed)")
    args = ap.parse_args()
    if not shutil.which("wrk") or not os.path.exists(args.etcd):
        sys.exit("needs wrk and etcd 3.4: apt-get install -y wrk etcd-server")
    results = {}
    with tempfile.TemporaryDirectory(prefix="petcd-cluster-bench-") as tmp:
        work = args.workdir or tmp
        os.makedirs(work, exist_ok=True)
        for kind in ("etcd", "petcd"):
            results[kind] = run_system(kind, args, work)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))
    for kind, r in results.items():
        bad = {k: v["non2xx"] for k, v in r["wrk"].items() if v["non2xx"]}
        if bad:
            print(f"\nwarning: {kind} non-2xx answers: {bad}")
        for i, f in enumerate(r["failovers"]):
            print(f"{kind} failover {i + 1}: killed {f['killed']}, new leader "
                  f"{f['new_leader']}, term {f['term_before']} -> {f['term_after']}, "
                  f"rejoined in {f['rejoin_s']:.2f} s, errors after the kill: {f['errors']}")


if __name__ == "__main__":
    main()
