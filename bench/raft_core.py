"""Throughput of the pure Raft core: a 3-node in-memory cluster committing batched proposals.

Usage: python -m petcd.bench.raft_core [--batches 2000] [--batch-size 64] [--payload-bytes 64]

Storage is MemoryStorage and the network is a list, so this measures the core's own CPU cost:
committed entries per CPU-second of the whole process (all three nodes and the harness), and
the CPU the leader spends per committed entry. Timings are reported, never asserted.
"""
from __future__ import annotations

import argparse
import random
import time

from petcd.common.types import ConfState, Snapshot, SnapshotMetadata
from petcd.stages.raft.core import Config, MemoryStorage, RawNode


def make_cluster(size: int) -> dict[int, tuple[RawNode, MemoryStorage]]:
    voters = tuple(range(1, size + 1))
    nodes = {}
    for node_id in voters:
        storage = MemoryStorage()
        storage.apply_snapshot(Snapshot(metadata=SnapshotMetadata(
            index=1, term=1, conf_state=ConfState(voters=voters))))
        nodes[node_id] = (RawNode(Config(id=node_id, rand=random.Random(node_id)), storage),
                          storage)
    return nodes


def handle_ready(node_id: int, rawnode: RawNode, storage: MemoryStorage, outbox: list) -> int:
    """One synchronous Ready cycle; returns the number of entries applied."""
    rd = rawnode.ready()
    outbox.extend(rd.messages)
    storage.save(rd.snapshot, rd.hard_state, rd.entries)
    for m in rd.persist_messages:
        if m.to == node_id:
            rawnode.step(m)
        else:
            outbox.append(m)
    if rd.committed_entries:
        rawnode.applied_to(rd.committed_entries[-1].index)
    return len(rd.committed_entries)


def run(batches: int, batch_size: int, payload_bytes: int, in_flight: int) -> dict:
    nodes = make_cluster(3)
    leader_id = 1
    nodes[leader_id][0].campaign()
    outbox: list = []
    leader_ns = 0
    committed = 0

    def pump() -> int:
        nonlocal leader_ns
        applied = 0
        moved = True
        while moved:
            moved = False
            for node_id, (rn, st) in nodes.items():
                if rn.has_ready():
                    moved = True
                    t0 = time.process_time_ns()
                    n = handle_ready(node_id, rn, st, outbox)
                    if node_id == leader_id:
                        leader_ns += time.process_time_ns() - t0
                        applied += n
            while outbox:
                moved = True
                msgs = outbox[:]
                outbox.clear()
                for m in msgs:
                    t0 = time.process_time_ns()
                    nodes[m.to][0].step(m)
                    if m.to == leader_id:
                        leader_ns += time.process_time_ns() - t0
        return applied

    pump()
    leader = nodes[leader_id][0]
    payloads = [[random.randbytes(payload_bytes) for _ in range(batch_size)]
                for _ in range(16)]
    leader_ns = 0
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for b in range(0, batches, in_flight):
        for k in range(min(in_flight, batches - b)):
            t0 = time.process_time_ns()
            leader.propose_batch(payloads[(b + k) % len(payloads)])
            leader_ns += time.process_time_ns() - t0
        committed += pump()
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    return {
        "committed_entries": committed,
        "cpu_s": cpu,
        "wall_s": wall,
        "entries_per_cpu_s": committed / cpu,
        "leader_us_per_entry": leader_ns / 1000 / committed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--payload-bytes", type=int, default=64)
    ap.add_argument("--in-flight", type=int, default=4,
                    help="batches proposed before the cluster is pumped (pipelining)")
    args = ap.parse_args()
    r = run(args.batches, args.batch_size, args.payload_bytes, args.in_flight)
    print(f"3-node in-memory cluster, batches of {args.batch_size} x {args.payload_bytes} B, "
          f"{args.in_flight} batch(es) in flight")
    print(f"committed entries        {r['committed_entries']}")
    print(f"process CPU              {r['cpu_s']:.3f} s (wall {r['wall_s']:.3f} s)")
    print(f"committed entries/CPU-s  {r['entries_per_cpu_s']:,.0f}  (all 3 nodes + harness)")
    print(f"leader CPU per entry     {r['leader_us_per_entry']:.2f} us")


if __name__ == "__main__":
    main()
