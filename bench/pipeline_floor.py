"""The floor of a put's latency in petcd's process shape, next to etcd's put, same machine.

Usage: python -m petcd.bench.pipeline_floor [--puts 3000] [--etcd /usr/bin/etcd] [--dir DIR]

A put on one member crosses five ZeroMQ hops between four processes (api -> raft -> wal ->
raft -> apply -> api) and waits for two fdatasyncs (the WAL's group commit, then the LMDB
commit that makes the write visible to every api worker). This runs exactly that and nothing
else: stand-in processes that decode a msgpack message, fdatasync where wal and apply would,
and pass it on over ipc sockets. No HTTP, no Raft, no LMDB. Its p50 is a lower bound for
petcd's single-connection put p50 in this shape; the script prints it next to etcd's
single-connection put p50 measured with wrk in the same run (the etcd_compare workload).
``--dir`` puts the fsynced files on the disk under test (default: a temporary directory).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time

import msgpack
import zmq

# Where each stand-in sends a message next: its route is the list of stops still ahead.
ROUTE = ["wal", "raft", "apply", "api"]
RECORD = b"x" * 100   # one WAL record's worth of bytes per fsync


def _stage(run_dir: str, name: str, sync_path: str | None) -> None:
    ctx = zmq.Context()
    inbox = ctx.socket(zmq.PULL)
    inbox.bind(f"ipc://{run_dir}/{name}")
    outs: dict[str, zmq.Socket] = {}
    fd = os.open(sync_path, os.O_RDWR | os.O_CREAT, 0o600) if sync_path else None
    while True:
        msg = msgpack.unpackb(inbox.recv())
        if fd is not None:
            os.pwrite(fd, RECORD, 0)
            os.fdatasync(fd)
        nxt = msg["route"].pop(0)
        out = outs.get(nxt)
        if out is None:
            out = outs[nxt] = ctx.socket(zmq.PUSH)
            out.connect(f"ipc://{run_dir}/{nxt}")
        out.send(msgpack.packb(msg))


def floor(puts: int, data_dir: str, fsync: bool = True) -> dict:
    """Sequential puts through the stand-in pipeline; latency percentiles in ms."""
    run_dir = tempfile.mkdtemp(prefix="petcd-floor-")
    procs = [mp.Process(target=_stage, daemon=True,
                        args=(run_dir, name, os.path.join(data_dir, name) if sync else None))
             for name, sync in (("raft", False), ("wal", fsync), ("apply", fsync))]
    for p in procs:
        p.start()
    ctx = zmq.Context()
    api = ctx.socket(zmq.PULL)
    api.bind(f"ipc://{run_dir}/api")
    raft = ctx.socket(zmq.PUSH)
    raft.connect(f"ipc://{run_dir}/raft")
    try:
        times = []
        for i in range(puts + puts // 10):          # the first tenth warms up
            t = time.perf_counter()
            raft.send(msgpack.packb({"route": list(ROUTE), "key": b"k" * 16, "value": b"v" * 64}))
            api.recv()
            if i >= puts // 10:
                times.append(time.perf_counter() - t)
    finally:
        for p in procs:
            p.kill()
        ctx.destroy(linger=0)
        shutil.rmtree(run_dir, ignore_errors=True)
    times.sort()
    n = len(times)
    return {f"p{q}_ms": times[n * q // 100] * 1000 for q in (10, 50, 90)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--puts", type=int, default=3000)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--dir", default=None, help="where the stand-ins fsync (default: tmp)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="petcd-floor-", dir=args.dir) as d:
        rows.append(("5 hops + 2 fdatasyncs (petcd's shape, no work)", floor(args.puts, d)))
        rows.append(("5 hops, no fdatasync", floor(args.puts, d, fsync=False)))
    if shutil.which("wrk") and os.path.exists(args.etcd):
        from .servers import put, start_cluster, stop_all
        from .wrk_runner import wrk
        with tempfile.TemporaryDirectory(prefix="petcd-floor-etcd-") as work:
            server, = start_cluster("etcd", 1, work, args.etcd)
            try:
                put(server.url, b"bench-key", b"v" * 64)
                r = wrk(server.url, "put.lua", 1, 5)
                rows.append(("etcd 3.4.23 HTTP put, 1 connection (wrk)", {"p50_ms": r["p50_ms"]}))
            finally:
                stop_all([server])
    print("| sequential puts | p50 ms | p10 ms | p90 ms |")
    print("|---|---:|---:|---:|")
    for label, r in rows:
        cells = " | ".join(f"{r[k]:.2f}" if k in r else "" for k in ("p50_ms", "p10_ms",
                                                                       "p90_ms"))
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
