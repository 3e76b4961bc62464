"""How long clients stall while a member defragments: etcd 3.4.23 and petcd, same run.

Usage: python -m petcd.bench.defrag_stall [--store-mb 1024] [--value-bytes 1000000]
                                          [--etcd /usr/bin/etcd]

Theory of operation: each member is filled to about --store-mb of values (puts over gRPC of
--value-bytes each, under distinct keys), half of the keys are deleted and the store is
compacted, so that defragmenting has half the file to give back. Then two clients run over gRPC
while a third calls Defragment: one puts small values in a loop, one reads a key
(linearizable) in a loop. For each client the bench reports its longest call during the
defragmentation and its median call outside it, and the time Defragment took and the store's
size before and after. Timings are printed, never asserted; needs
`apt-get install etcd-server`.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from grpclib.client import Channel
from grpclib.exceptions import GRPCError

from petcd.common.proto import rpc_grpc, rpc_pb2 as pb

from .servers import start_cluster, stop_all


async def _fill(ch: Channel, store_mb: int, value_bytes: int) -> int:
    kv = rpc_grpc.KVStub(ch)
    n = max(2, store_mb * 1024 * 1024 // value_bytes)
    value = b"v" * value_bytes
    in_flight = 8
    for start in range(0, n, in_flight):
        await asyncio.gather(*(kv.Put(pb.PutRequest(key=b"fill/%08d" % i, value=value))
                               for i in range(start, min(n, start + in_flight))))
    # every other key deleted, then the history compacted away: half the file is free pages
    for i in range(0, n, 2):
        await kv.DeleteRange(pb.DeleteRangeRequest(key=b"fill/%08d" % i))
    rev = (await kv.Range(pb.RangeRequest(key=b"fill/"))).header.revision
    await kv.Compact(pb.CompactionRequest(revision=rev, physical=True), timeout=600)
    return n


async def _loop(call, stop: asyncio.Event, samples: list, failures: list) -> None:
    """Calls one after another; a failed one (etcd's "request timed out" when it stalls for
    longer than its request timeout) counts with its duration, and the loop goes on."""
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            await call()
        except GRPCError as e:
            failures.append(e.message)
        samples.append((t0, time.monotonic() - t0))


async def _measure(port: int, store_mb: int, value_bytes: int) -> dict:
    ch = Channel("127.0.0.1", port)
    try:
        n = await _fill(ch, store_mb, value_bytes)
        kv = rpc_grpc.KVStub(ch)
        maintenance = rpc_grpc.MaintenanceStub(ch)
        await kv.Put(pb.PutRequest(key=b"probe", value=b"p"))
        before = await maintenance.Status(pb.StatusRequest())
        stop = asyncio.Event()
        puts, reads, failures = [], [], []
        ch_puts, ch_reads = Channel("127.0.0.1", port), Channel("127.0.0.1", port)
        kv_puts, kv_reads = rpc_grpc.KVStub(ch_puts), rpc_grpc.KVStub(ch_reads)
        tasks = [asyncio.create_task(_loop(
                     lambda: kv_puts.Put(pb.PutRequest(key=b"probe", value=b"p")), stop, puts,
                     failures)),
                 asyncio.create_task(_loop(
                     lambda: kv_reads.Range(pb.RangeRequest(key=b"probe")), stop, reads,
                     failures))]
        await asyncio.sleep(2.0)
        d0 = time.monotonic()
        await maintenance.Defragment(pb.DefragmentRequest(), timeout=600)
        d1 = time.monotonic()
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*tasks)
        ch_puts.close()
        ch_reads.close()
        after = await maintenance.Status(pb.StatusRequest())

        def during(samples):  # calls that overlapped the defragmentation
            return [d for t, d in samples if t < d1 and t + d > d0] or [0.0]

        def outside(samples):
            return [d for t, d in samples if t + d <= d0 or t >= d1] or [0.0]
        return {"keys": n, "size_before": before.dbSize, "size_after": after.dbSize,
                "defrag_s": d1 - d0,
                "put_max_during_ms": 1000 * max(during(puts)),
                "put_p50_outside_ms": 1000 * statistics.median(outside(puts)),
                "read_max_during_ms": 1000 * max(during(reads)),
                "read_p50_outside_ms": 1000 * statistics.median(outside(reads)),
                "failed_calls": len(failures)}
    finally:
        ch.close()


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=os.path.dirname(__file__), timeout=10)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store-mb", type=int, default=1024)
    ap.add_argument("--value-bytes", type=int, default=1_000_000)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    args = ap.parse_args()
    if not os.path.exists(args.etcd):
        sys.exit("needs etcd 3.4: apt-get install -y etcd-server")
    quota = ["--quota-backend-bytes", str(8 * args.store_mb * 1024 * 1024)]
    results = {}
    with tempfile.TemporaryDirectory(prefix="petcd-defrag-") as work:
        for kind in ("etcd", "petcd"):
            members = start_cluster(kind, 1, work, args.etcd, tuple(quota))
            try:
                results[kind] = asyncio.run(_measure(members[0].client_port, args.store_mb,
                                                     args.value_bytes))
            finally:
                stop_all(members)
            print(kind, results[kind], file=sys.stderr)
    print(f"defrag_stall, {datetime.date.today()}, commit {_commit()}: "
          f"`python -m petcd.bench.defrag_stall {' '.join(sys.argv[1:])}`\n")
    print("| | etcd | petcd |\n|---|---:|---:|")
    rows = [("store before, MB", "size_before", 1e-6), ("store after, MB", "size_after", 1e-6),
            ("Defragment, s", "defrag_s", 1), ("longest put during it, ms", "put_max_during_ms", 1),
            ("median put otherwise, ms", "put_p50_outside_ms", 1),
            ("longest read during it, ms", "read_max_during_ms", 1),
            ("median read otherwise, ms", "read_p50_outside_ms", 1),
            ("calls that failed (timed out)", "failed_calls", 1)]
    for label, key, scale in rows:
        print(f"| {label} | {results['etcd'][key] * scale:,.2f} | "
              f"{results['petcd'][key] * scale:,.2f} |")


if __name__ == "__main__":
    main()
