"""The pure half of `petcdctl check perf` and `check datascale`: etcdctl 3.4's workload
models and its pass/fail verdict. No I/O here; ctl/cmd_check.py runs the load.

The numbers are etcdctl's, so that "PASS at --load=m" means the same on petcd as on etcd:
- perf: `limit` puts/s from `clients` clients for 60 s, keys of 256 bytes under the prefix,
  values of 1024 bytes;
- verdict: throughput must be above 90 % of the limit (printed as int(rate) + 1, etcdctl's
  rounding), the slowest request at most 0.5 s, the standard deviation at most 0.1 s, and no
  request may fail. Only the throughput lines say "FAIL:"; etcdctl prints the slowest and
  stddev failures without it, and so does this.
"""
from __future__ import annotations

from dataclasses import dataclass

from petcd.bench.report import Stats, go_float

PERF_DURATION_S = 60
PERF_KEY_BYTES, PERF_VALUE_BYTES = 256, 1024
DATASCALE_KEY_BYTES, DATASCALE_VALUE_BYTES = 512, 512
MIN_THROUGHPUT_RATIO = 0.9
MAX_SLOWEST_S = 0.5
MAX_STDDEV_S = 0.1

# etcdctl accepts the short and the long names of each model.
LOAD_ALIASES = {"s": "s", "small": "s", "m": "m", "medium": "m", "l": "l", "large": "l",
                "xl": "xl", "xLarge": "xl"}


@dataclass(frozen=True, slots=True)
class PerfLoad:
    limit_per_s: int
    clients: int
    duration_s: int = PERF_DURATION_S


@dataclass(frozen=True, slots=True)
class DatascaleLoad:
    limit: int        # key-value pairs written
    kv_bytes: int
    clients: int


PERF_LOADS = {"s": PerfLoad(150, 50), "m": PerfLoad(1000, 200), "l": PerfLoad(8000, 500),
              "xl": PerfLoad(15000, 1000)}
DATASCALE_LOADS = {"s": DatascaleLoad(10_000, 1024, 50), "m": DatascaleLoad(100_000, 1024, 200),
                   "l": DatascaleLoad(1_000_000, 1024, 500),
                   "xl": DatascaleLoad(3_000_000, 1024, 1000)}


def perf_verdict(stats: Stats, limit_per_s: int) -> tuple[list[str], bool]:
    """etcdctl's report lines (without newlines) and whether the check passed."""
    lines: list[str] = []
    ok = True
    if stats.errors:
        lines.append("FAIL: too many errors")
        lines += [f"FAIL: ERROR({msg}) -> {n}" for msg, n in stats.errors]
        ok = False
    rps = stats.requests_per_s
    shown = int(rps) + 1
    if rps / limit_per_s <= MIN_THROUGHPUT_RATIO:
        lines.append(f"FAIL: Throughput too low: {shown} writes/s")
        ok = False
    else:
        lines.append(f"PASS: Throughput is {shown} writes/s")
    if stats.slowest_s > MAX_SLOWEST_S:
        lines.append(f"Slowest request took too long: {go_float('%f', stats.slowest_s)}s")
        ok = False
    else:
        lines.append(f"PASS: Slowest request took {go_float('%f', stats.slowest_s)}s")
    if stats.stddev_s > MAX_STDDEV_S:
        lines.append(f"Stddev too high: {go_float('%f', stats.stddev_s)}s")
        ok = False
    else:
        lines.append(f"PASS: Stddev is {go_float('%f', stats.stddev_s)}s")
    lines.append("PASS" if ok else "FAIL")
    return lines, ok
