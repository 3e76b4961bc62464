"""The floor of a put's latency in petcd's process shape, next to etcd's put, same machine.

Usage: python -m petcd.bench.pipeline_floor [--size 1|3] [--puts 3000] [--etcd /usr/bin/etcd]
       [--dir DIR] [--no-petcd]

One member: a put crosses five ZeroMQ hops between four processes (api -> raft -> wal -> raft
-> apply -> api) and waits for two fdatasyncs (the WAL's group commit, then the LMDB commit
that makes the write visible to every api worker).

Three members (`--size 3`), against the leader: its raft hands the entry to its own wal and,
through its transport, to both followers' transports over TCP. Each follower's transport ->
raft -> wal (fdatasync) -> transport answers over TCP to the leader's transport -> raft. The
leader commits on the first two of the three answers (a quorum; its own wal's is one), then
apply (fdatasync) -> api: ten hops on the critical path and two fdatasyncs on it,
with the leader's own fdatasync and the second follower alongside, on the same two cores.

This runs exactly that and nothing else: stand-in processes that decode a msgpack message,
fdatasync where wal and apply would, and pass it on, over ipc sockets within a member and TCP
between members. No HTTP, no Raft, no LMDB. Its p50 is a lower bound for petcd's
single-connection put p50 in this shape; the script prints it next to etcd's and petcd's
single-connection put p50, measured with wrk against the leader in the same run (the
etcd_compare workload). ``--dir`` puts the fsynced files on the disk under test (default: a
temporary directory).
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

RECORD = b"x" * 100   # one WAL record's worth of bytes per fsync
FANOUT, JOIN = "@fanout", "@join"


def _one_member() -> tuple[list[str], list[list[str]], list[str]]:
    """(stand-ins, branches the leader's raft starts, route after the commit)."""
    return ["L.raft", "L.wal", "L.apply"], [["L.wal", "L.raft"]], ["L.apply", "api"]


def _three_members() -> tuple[list[str], list[list[str]], list[str]]:
    names = ["L.raft", "L.wal", "L.transport", "L.apply"]
    branches = [["L.wal", "L.raft"]]
    for f in ("F1", "F2"):
        names += [f"{f}.transport", f"{f}.raft", f"{f}.wal"]
        # A follower's wal hands its acknowledgement to transport (stages/wal/writer.py).
        branches.append(["L.transport", f"{f}.transport", f"{f}.raft", f"{f}.wal",
                         f"{f}.transport", "L.transport", "L.raft"])
    return names, branches, ["L.apply", "api"]


SHAPES = {1: _one_member, 3: _three_members}


def _member(name: str) -> str:
    return name.split(".")[0]


def _endpoint(run_dir: str, ports: dict[str, int], sender: str, to: str) -> str:
    # Within a member the stages talk over ipc; members reach each other's transport by TCP.
    if to.endswith(".transport") and _member(sender) != _member(to):
        return f"tcp://127.0.0.1:{ports[to]}"
    return f"ipc://{run_dir}/{to}"


def _stage(run_dir: str, ports: dict[str, int], name: str, branches: list[list[str]],
           committed: list[str], quorum: int, sync_path: str | None) -> None:
    ctx = zmq.Context()
    inbox = ctx.socket(zmq.PULL)
    inbox.bind(f"ipc://{run_dir}/{name}")
    if name in ports:
        inbox.bind(f"tcp://127.0.0.1:{ports[name]}")
    outs: dict[str, zmq.Socket] = {}
    fd = os.open(sync_path, os.O_RDWR | os.O_CREAT, 0o600) if sync_path else None
    acks: dict[int, int] = {}   # put id -> answers counted by the leader's raft so far

    def send(msg: dict) -> None:
        nxt = msg["route"].pop(0)
        out = outs.get(nxt)
        if out is None:
            out = outs[nxt] = ctx.socket(zmq.PUSH)
            out.connect(_endpoint(run_dir, ports, name, nxt))
        out.send(msgpack.packb(msg))

    while True:
        msg = msgpack.unpackb(inbox.recv())
        if fd is not None:
            os.pwrite(fd, RECORD, 0)
            os.fdatasync(fd)
        if msg["route"][0] == FANOUT:     # a new entry: to the leader's wal and every follower
            for branch in branches:
                send(dict(msg, route=list(branch) + [JOIN]))
            continue
        if msg["route"][0] == JOIN:       # an answer: commit on the quorum's, once
            n = acks[msg["id"]] = acks.get(msg["id"], 0) + 1
            if n == quorum:
                send(dict(msg, route=list(committed)))
            if n == len(branches):
                del acks[msg["id"]]
            continue
        send(msg)


def floor(puts: int, data_dir: str, fsync: bool = True, size: int = 1) -> dict:
    """Sequential puts through the stand-in pipeline of a `size`-member cluster's leader;
    latency percentiles in ms."""
    from petcd.testing.member import free_port
    names, branches, committed = SHAPES[size]()
    quorum = size // 2 + 1       # the leader's own wal is one of the answers
    ports = {n: free_port() for n in names if n.endswith(".transport")}
    run_dir = tempfile.mkdtemp(prefix="petcd-floor-")
    procs = [mp.Process(target=_stage, daemon=True,
                        args=(run_dir, ports, name, branches, committed, quorum,
                              os.path.join(data_dir, name)
                              if fsync and name.endswith((".wal", ".apply")) else None))
             for name in names]
    for p in procs:
        p.start()
    ctx = zmq.Context()
    api = ctx.socket(zmq.PULL)
    api.bind(f"ipc://{run_dir}/api")
    raft = ctx.socket(zmq.PUSH)
    raft.connect(f"ipc://{run_dir}/L.raft")
    try:
        times = []
        for i in range(puts + puts // 10):          # the first tenth warms up
            t = time.perf_counter()
            raft.send(msgpack.packb({"id": i, "route": [FANOUT], "key": b"k" * 16,
                                     "value": b"v" * 64}))
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


def _server_put_p50(kind: str, size: int, etcd: str) -> dict:
    from .servers import find_leader, put, start_cluster, stop_all
    from .wrk_runner import wrk
    with tempfile.TemporaryDirectory(prefix=f"petcd-floor-{kind}-") as work:
        members = start_cluster(kind, size, work, etcd)
        try:
            leader = find_leader(members) if size > 1 else members[0]
            put(leader.url, b"bench-key", b"v" * 64)
            r = wrk(leader.url, "put.lua", 1, 5)
            return {"p50_ms": r["p50_ms"]}
        finally:
            stop_all(members)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, choices=sorted(SHAPES), default=1)
    ap.add_argument("--puts", type=int, default=3000)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--dir", default=None, help="where the stand-ins fsync (default: tmp)")
    ap.add_argument("--no-petcd", action="store_true", help="skip petcd's own put")
    args = ap.parse_args()
    hops = 5 if args.size == 1 else 10
    members = "one member" if args.size == 1 else f"{args.size} members, to the leader"
    rows = []
    with tempfile.TemporaryDirectory(prefix="petcd-floor-", dir=args.dir) as d:
        rows.append((f"{hops} hops + 2 fdatasyncs (petcd's shape, {members}, no work)",
                     floor(args.puts, d, size=args.size)))
        rows.append((f"{hops} hops, no fdatasync", floor(args.puts, d, fsync=False,
                                                          size=args.size)))
    if shutil.which("wrk"):
        if os.path.exists(args.etcd):
            rows.append((f"etcd 3.4.23 HTTP put, {members}, 1 connection (wrk)",
                         _server_put_p50("etcd", args.size, args.etcd)))
        if not args.no_petcd:
            rows.append((f"petcd HTTP put, {members}, 1 connection (wrk)",
                         _server_put_p50("petcd", args.size, args.etcd)))
    print("| sequential puts | p50 ms | p10 ms | p90 ms |")
    print("|---|---:|---:|---:|")
    for label, r in rows:
        cells = " | ".join(f"{r[k]:.2f}" if k in r else "" for k in ("p50_ms", "p10_ms",
                                                                       "p90_ms"))
        print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
