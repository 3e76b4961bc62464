"""Throughput of the MVCC store on LMDB: batched puts, point ranges, txns, historical reads.

Usage: python -m petcd.bench.mvcc [--puts 20000] [--keys 10000] [--value-bytes 256]
                                  [--reads 50000] [--dir DIR]

Puts are applied as the apply loop does: one LMDB write transaction per batch (64 entries, and
1 for the worst case), events recorded. "sync" is the default store (fdatasync per batch commit,
meta page lazily); "nosync" shows the CPU cost alone. Reads go through MvccStore.range, the same
code an api worker's MvccReader runs: one read transaction per request. Timings are printed,
never asserted.
"""
from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time

from petcd.common.kv import (
    Compare, CompareResult, CompareTarget, PutRequest, RangeRequest, RequestOp, TxnRequest,
)
from petcd.stages.apply.mvcc import MvccStore


def bench_puts(path: str, n: int, batch: int, keys: int, value: bytes, sync: bool) -> float:
    store = MvccStore.open(path, 4 << 30, sync=sync)
    reqs = [PutRequest(b"/registry/pods/default/pod-%06d" % (i % keys), value)
            for i in range(n)]
    index = 0
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        index += 1
        with store.batch(index) as b:
            put = b.put
            for req in reqs[start:start + batch]:
                put(req)
    dt = time.perf_counter() - t0
    store.close()
    return n / dt


def bench_reads(store: MvccStore, reqs: list, label: str) -> None:
    rng = store.range
    t0 = time.perf_counter()
    for req in reqs:
        rng(req)
    dt = time.perf_counter() - t0
    print(f"  {label:<44} {len(reqs) / dt:>10,.0f} /s   {dt / len(reqs) * 1e6:6.1f} us")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--puts", type=int, default=20000)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--value-bytes", type=int, default=256)
    ap.add_argument("--reads", type=int, default=50000)
    ap.add_argument("--dir", default=None, help="where to create the LMDB envs (default: tmp)")
    args = ap.parse_args(argv)
    value = b"v" * args.value_bytes
    root = tempfile.mkdtemp(prefix="petcd-bench-mvcc-", dir=args.dir)
    try:
        print(f"puts ({args.value_bytes}-byte values, {args.keys} keys):")
        for sync in (True, False):
            for batch in (64, 1):
                n = args.puts if batch > 1 or not sync else min(args.puts, 2000)
                rate = bench_puts(f"{root}/p{batch}{sync}", n, batch, args.keys, value, sync)
                print(f"  batch {batch:>3} {'sync' if sync else 'nosync':<7} {n:>7} puts"
                      f" {rate:>12,.0f} puts/s")

        # A populated store: every key written 3 times (history for historical reads).
        store = MvccStore.open(f"{root}/r", 4 << 30, sync=False)
        names = [b"/registry/pods/default/pod-%06d" % i for i in range(args.keys)]
        index = 0
        for round_ in range(3):
            for start in range(0, args.keys, 256):
                index += 1
                with store.batch(index, record_events=False) as b:
                    for k in names[start:start + 256]:
                        b.put(PutRequest(k, value))
        rev = store.current_revision()
        rnd = random.Random(1)
        print(f"reads (store at revision {rev}):")
        bench_reads(store, [RangeRequest(rnd.choice(names)) for _ in range(args.reads)],
                    "point range, current")
        bench_reads(store, [RangeRequest(rnd.choice(names), revision=rev - args.keys - 7)
                            for _ in range(args.reads // 5)], "point range, historical")
        prefix = RangeRequest(b"/registry/pods/default/pod-00",
                              b"/registry/pods/default/pod-01", limit=10)
        bench_reads(store, [prefix] * (args.reads // 50),
                    f"prefix range limit 10 (count {store.range(prefix).count})")
        bench_reads(store, [RangeRequest(b"\0", b"\0", count_only=True)
                            for _ in range(args.reads // 5)], "count_only all keys")

        cmp_ok = [TxnRequest(
            compare=(Compare(CompareResult.GREATER, CompareTarget.MOD, k, mod_revision=0),),
            success=(RequestOp(request_put=PutRequest(k, value)),)) for k in names[:2000]]
        t0 = time.perf_counter()
        for start in range(0, len(cmp_ok), 64):
            index += 1
            with store.batch(index) as b:
                for req in cmp_ok[start:start + 64]:
                    b.txn(req)
        dt = time.perf_counter() - t0
        print(f"txns (compare mod + put), batch 64 nosync {len(cmp_ok) / dt:>12,.0f} txns/s")
        print(f"db size {store.size_bytes() / 2**20:.1f} MiB,"
              f" in use {store.size_in_use_bytes() / 2**20:.1f} MiB")
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
