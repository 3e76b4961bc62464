"""petcd against a real etcd 3.4.23 over etcd's gRPC API, same machine, same run: h2load sends
the same unary calls to both.

Usage: python -m petcd.bench.grpc_compare [--seconds 10] [--size 1|3] [--rounds 1]
                                          [--warmup 1] [--etcd /usr/bin/etcd]

Theory of operation: one etcd cluster and one petcd cluster of --size members each (free
loopback ports, temporary data dirs, bench/servers.py) run side by side, and the load goes to
each cluster's leader, whose client port serves gRPC (both tell gRPC from HTTP by the first
bytes of a connection). h2load (nghttp2-client) opens HTTP/2 connections with prior knowledge
and POSTs one fixed body to a method's path with gRPC's headers; the body is one gRPC message
(a 0 byte, i.e. not compressed, the message's length as a big-endian u32, then the protobuf
serialized with rpc_pb2), so each request is one unary call. The workloads:
  put-4x16    /etcdserverpb.KV/Put, 16-byte key, 64-byte value, 4 connections x 16 streams
  range-4x16  /etcdserverpb.KV/Range of that key (linearizable), 4 connections x 16 streams
  put-1x1     /etcdserverpb.KV/Put, 1 connection, 1 stream (latency)
h2load sends one body, so every put writes the same key: unlike the wrk bench's puts, they add
revisions to one key rather than new keys. A run is --warmup seconds of load that h2load does
not count, then --seconds that it counts (its --warm-up-time and -D). Each workload runs
against etcd, then against petcd; --rounds repeats the whole sequence and the table reports
the median of each figure over the rounds.

h2load counts every HTTP 200 as a success, and a failed gRPC call is an HTTP 200 whose
grpc-status trailer is not 0, so two checks back its counts. Answer bytes: a successful call's
answer carries a message, a failed one none (a trailers-only answer), so h2load's received data
bytes divided by the size of one answer (taken from one call made with grpclib before the
load) count the calls that succeeded. The store's revision, for puts: read (serializable, over
HTTP, from the member under load) when the counted phase should begin and end (h2load's phases
are timed from its start, a few ms after the bench launches it), it gives the puts applied per
second, reported next to h2load's calls per second; read before the run and again after it
(once it no longer moves), it must have grown by at least h2load's count of the counted phase,
since each successful put adds one revision and the warm-up's puts add more. A run that fails
a check is flagged under the table. Latency: h2load's mean, and percentiles
of its per-call log (--log-file), which holds the counted phase only.

The clusters are up at once, so the one not under load idles beside the other (heartbeats,
petcd's stage processes). Timings are reported, never asserted; needs
`apt-get install etcd-server nghttp2-client`.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grpclib.client import Channel

from petcd.common.proto import rpc_grpc, rpc_pb2

from .servers import Member, b64, find_leader, post_json, start_cluster, stop_all

REPO = Path(__file__).resolve().parent.parent
KEY = b"bench/grpc/key01"             # 16 bytes
VALUE = b"v" * 64
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")
APPLIED_MIN_RATIO = 0.9     # below this share of h2load's count, a run is flagged
SETTLE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Workload:
    name: str
    method: str       # KV method: Put or Range
    clients: int      # h2load -c: connections
    streams: int      # h2load -m: concurrent streams per connection

    @property
    def path(self) -> str:
        return f"/etcdserverpb.KV/{self.method}"


WORKLOADS = (Workload("put, 4 connections x 16 streams", "Put", 4, 16),
             Workload("linearizable range, 4 connections x 16 streams", "Range", 4, 16),
             Workload("put, 1 connection x 1 stream", "Put", 1, 1))


def grpc_frame(message) -> bytes:
    """One gRPC length-prefixed message: flag 0 (not compressed), big-endian u32 length, the
    serialized protobuf."""
    payload = message.SerializeToString()
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def parse_grpc_frame(data: bytes) -> tuple[int, bytes]:
    """(compressed flag, message bytes) of a body holding exactly one gRPC message."""
    if len(data) < 5:
        raise ValueError(f"a gRPC message needs a 5-byte prefix, got {len(data)} bytes")
    length = int.from_bytes(data[1:5], "big")
    if len(data) != 5 + length:
        raise ValueError(f"prefix says {length} bytes, body holds {len(data) - 5}")
    return data[0], data[5:]


def request_messages() -> dict[str, object]:
    """The request of each KV method the workloads call."""
    return {"Put": rpc_pb2.PutRequest(key=KEY, value=VALUE),
            "Range": rpc_pb2.RangeRequest(key=KEY)}   # serializable=False: linearizable


def write_request_files(directory: str) -> dict[str, str]:
    """One request body file per method, for h2load's -d."""
    files = {}
    for method, message in request_messages().items():
        path = os.path.join(directory, f"{method.lower()}.grpc")
        Path(path).write_bytes(grpc_frame(message))
        files[method] = path
    return files


def answer_sizes(port: int) -> dict[str, int]:
    """One call of each method with grpclib (which checks grpc-status, so a server that fails
    the calls stops the bench here); the size of each answer's body, prefix included. The put
    also makes the key that the range reads."""
    async def calls() -> dict[str, int]:
        channel = Channel("127.0.0.1", port)
        try:
            kv = rpc_grpc.KVStub(channel)
            msgs = request_messages()
            put = await asyncio.wait_for(kv.Put(msgs["Put"]), 20)
            rng = await asyncio.wait_for(kv.Range(msgs["Range"]), 20)
            return {"Put": 5 + put.ByteSize(), "Range": 5 + rng.ByteSize()}
        finally:
            channel.close()
    return asyncio.run(calls())


def revision(member: Member) -> tuple[float, int]:
    """(monotonic time, store revision): a serializable read over HTTP, timed at the middle of
    its round trip."""
    sent = time.monotonic()
    r = post_json(member.url, "/v3/kv/range", {"key": b64(KEY), "serializable": True,
                                                 "count_only": True})
    return (sent + time.monotonic()) / 2, int(r["header"]["revision"])


def settled_revision(member: Member) -> int:
    """The revision once it no longer moves: puts still in flight when h2load stopped are
    applied after it exits."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    _, last = revision(member)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        _, now = revision(member)
        if now == last:
            break
        last = now
    return last


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    num, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(num) * _UNITS_MS[unit]


def parse_h2load(out: str) -> dict:
    """The figures of h2load's report that the bench uses."""
    finished = re.search(r"finished in ([\d.]+\w+), ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    data = re.search(r"traffic: .*? \((\d+)\) total, .*? \((\d+)\) headers .*?, .*? \((\d+)\) "
                     r"data", out)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if not (finished and req and codes and data and lat):
        raise ValueError(f"unexpected h2load report:\n{out}")
    total, _, done, succeeded, failed, errored, timeout = map(int, req.groups())
    return {"rps": float(finished.group(2)), "total": total, "done": done,
            "succeeded": succeeded, "failed": failed, "errored": errored, "timeout": timeout,
            "non2xx": sum(map(int, codes.groups()[1:])), "data_bytes": int(data.group(3)),
            "min_ms": _ms(lat.group(1)), "max_ms": _ms(lat.group(2)),
            "mean_ms": _ms(lat.group(3)), "sd_ms": _ms(lat.group(4))}


def log_percentiles(path: str, percentiles=(50.0, 90.0, 99.0)) -> dict[str, float]:
    """Nearest-rank percentiles, in ms, of the third column of h2load's --log-file (µs from
    the request's start to the end of its answer)."""
    lats = []
    with open(path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3:
                lats.append(int(cols[2]) / 1000.0)
    if not lats:
        return {}
    lats.sort()
    out = {}
    for p in percentiles:
        rank = max(1, -(-len(lats) * p // 100))   # ceil(n * p / 100)
        out[f"p{p:g}_ms"] = lats[int(rank) - 1]
    return out


def run_workload(member: Member, w: Workload, data_file: str, seconds: int, warmup_s: float,
                 log_file: str) -> dict:
    cmd = ["h2load", "-c", str(w.clients), "-m", str(w.streams), "-t", "1",
           "-D", str(seconds), "--log-file", log_file, "-d", data_file]
    if warmup_s > 0:
        cmd += ["--warm-up-time", f"{int(warmup_s * 1000)}ms"]
    for h in GRPC_HEADERS:
        cmd += ["-H", h]
    cmd.append(member.url + w.path)
    is_put = w.method == "Put"
    rev_before = settled_revision(member) if is_put else None
    launched = time.monotonic()
    # Its own session and a hard timeout: h2load never outlives the bench.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    samples = []
    try:
        if is_put:
            for at in (launched + warmup_s, launched + warmup_s + seconds):
                time.sleep(max(0.0, at - time.monotonic()))
                samples.append(revision(member))
        out, err = proc.communicate(timeout=warmup_s + seconds + 60)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"h2load exited with {proc.returncode}: {err[-2000:]}")
    r = parse_h2load(out)
    r.update(log_percentiles(log_file))
    if is_put:
        (t0, r0), (t1, r1) = samples
        r["applied_per_s"] = (r1 - r0) / (t1 - t0)
        r["revision_delta"] = settled_revision(member) - rev_before
    return r


def checks(kind: str, w: Workload, r: dict, answer_size: int) -> list[str]:
    """What makes a run suspect: h2load's own failures, fewer answers with a message than
    calls, fewer revisions than counted puts."""
    problems = []
    bad = {k: r[k] for k in ("failed", "errored", "timeout", "non2xx") if r[k]}
    if bad:
        problems.append(f"h2load reports {bad}")
    with_message = r["data_bytes"] / answer_size
    if with_message < APPLIED_MIN_RATIO * r["done"]:
        problems.append(f"only ~{with_message:,.0f} of {r['done']:,} answers carry a message "
                        f"(failed gRPC calls?)")
    if w.method == "Put":
        if r["revision_delta"] < APPLIED_MIN_RATIO * r["succeeded"]:
            problems.append(f"revision grew by {r['revision_delta']:,} over the run, h2load "
                            f"counts {r['succeeded']:,} puts in its counted phase alone")
        if r["applied_per_s"] < APPLIED_MIN_RATIO * r["rps"]:
            problems.append(f"{r['applied_per_s']:,.0f} puts applied/s against h2load's "
                            f"{r['rps']:,.0f} calls/s")
    return [f"{kind}, {w.name}: {p}" for p in problems]


def leader_of(members: list[Member]) -> Member:
    return members[0] if len(members) == 1 else find_leader(members)


def etcd_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        return re.search(r"etcd Version: (\S+)", out).group(1)
    except (OSError, subprocess.SubprocessError, AttributeError):
        return "?"


def h2load_version() -> str:
    try:
        out = subprocess.run(["h2load", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        return out.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def git_commit() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        return commit + (" (with uncommitted changes)" if git("status", "--porcelain") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def median(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def table(results: dict[str, dict[str, list[dict]]], etcd_label: str) -> str:
    rows = [f"| workload, figure | {etcd_label} | petcd | petcd/etcd |", "|---|---:|---:|---:|"]

    def row(label: str, e: float | None, p: float | None, fmt: str) -> None:
        if e is None or p is None:
            return
        ratio = f"{p / e:.2f}x" if e else ""
        rows.append(f"| {label} | {e:{fmt}} | {p:{fmt}} | {ratio} |")

    for w in WORKLOADS:
        e, p = results[w.name]["etcd"], results[w.name]["petcd"]
        row(f"{w.name}: calls/s (h2load)", median(e, "rps"), median(p, "rps"), ",.0f")
        if w.method == "Put":
            row(f"{w.name}: puts applied/s (revision)", median(e, "applied_per_s"),
                median(p, "applied_per_s"), ",.0f")
        for key, label in (("mean_ms", "mean"), ("p50_ms", "p50"), ("p90_ms", "p90"),
                           ("p99_ms", "p99")):
            if w.clients * w.streams > 1 and key == "p90_ms":
                continue
            row(f"{w.name}: {label} ms (lower is better)", median(e, key), median(p, key),
                ".2f")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10, help="counted seconds of each run")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="seconds of load before each run's counted phase")
    ap.add_argument("--size", type=int, choices=(1, 3), default=1,
                    help="members per cluster (the load goes to the leader)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat all workloads; medians")
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--api-workers", type=int, default=1, help="petcd's --api-workers")
    ap.add_argument("--json", help="also write the raw results of every run here")
    ap.add_argument("--workdir", help="data dirs, member logs and h2load's files here, kept "
                    "(default: a temp dir, removed)")
    args = ap.parse_args()
    if args.seconds < 1 or args.rounds < 1 or args.warmup < 0:
        ap.error("--seconds and --rounds must be at least 1, --warmup not negative")
    if not shutil.which("h2load") or not os.path.exists(args.etcd):
        sys.exit("needs h2load and etcd 3.4: apt-get install -y nghttp2-client etcd-server")
    command = shlex.join(["python", "-m", "petcd.bench.grpc_compare", *sys.argv[1:]])
    started = datetime.datetime.now().astimezone()
    results: dict[str, dict[str, list[dict]]] = {
        w.name: {"etcd": [], "petcd": []} for w in WORKLOADS}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="petcd-grpc-bench-") as tmp:
        work = args.workdir or tmp
        os.makedirs(work, exist_ok=True)
        files = write_request_files(work)
        clusters: dict[str, list[Member]] = {}
        try:
            for kind in ("etcd", "petcd"):
                extra = () if kind == "etcd" else ("--api-workers", str(args.api_workers))
                clusters[kind] = start_cluster(kind, args.size, work, args.etcd, extra)
            sizes = {kind: answer_sizes(leader_of(ms).client_port)
                     for kind, ms in clusters.items()}
            for rnd in range(1, args.rounds + 1):
                for w in WORKLOADS:
                    for kind in ("etcd", "petcd"):
                        target = leader_of(clusters[kind])
                        log = os.path.join(work, f"h2load-{kind}-{w.method.lower()}-"
                                           f"{w.clients}x{w.streams}-{rnd}.log")
                        r = run_workload(target, w, files[w.method], args.seconds,
                                         args.warmup, log)
                        r.update(round=rnd, member=target.name)
                        results[w.name][kind].append(r)
                        problems += [f"round {rnd}, {p}"
                                     for p in checks(kind, w, r, sizes[kind][w.method])]
                        shown = {k: round(v, 2) if isinstance(v, float) else v
                                 for k, v in r.items()}
                        print(f"round {rnd}: {kind}: {w.name}: {shown}", file=sys.stderr)
        finally:
            for ms in clusters.values():
                stop_all(ms)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": command, "date": started.isoformat(timespec="seconds"),
                       "commit": git_commit(), "results": results}, f, indent=1)
    members = "1 member" if args.size == 1 else f"{args.size}-member clusters, load on the leader"
    etcd_label = f"etcd {etcd_version(args.etcd)}"
    print(f"### petcd vs {etcd_label} over gRPC (h2load), {members}\n")
    print(f"- date: {started.isoformat(timespec='seconds')}")
    print(f"- commit: {git_commit()}")
    print(f"- command: `{command}`")
    print(f"- {h2load_version()}, {args.seconds} s counted after {args.warmup:g} s of warm-up "
          f"per run, median of {args.rounds} round(s), {os.cpu_count()} CPUs, petcd "
          f"--api-workers {args.api_workers}\n")
    print(table(results, etcd_label))
    if problems:
        print("\nflagged runs (their figures are in the medians above):")
        for p in problems:
            print(f"- {p}")


if __name__ == "__main__":
    main()
