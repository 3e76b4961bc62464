"""wrk over the HTTP gateway API: the workloads both comparisons run, and the parse of wrk's
report (requests/s, latency percentiles, non-2xx answers). Timings are reported, never asserted.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

WRK_DIR = Path(__file__).resolve().parent / "wrk"

# (name, script in bench/wrk/, connections)
WORKLOADS = [("put, 64 connections", "put.lua", 64),
             ("linearizable range, 64 connections", "range.lua", 64),
             ("put, 1 connection", "put.lua", 1)]


def wrk(url: str, script: str, connections: int, seconds: float) -> dict:
    threads = min(2, connections)
    # Its own session and a hard timeout: wrk never outlives the bench.
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s", "--latency",
         "-s", str(WRK_DIR / script), url], capture_output=True, text=True, check=True,
        start_new_session=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99,
            "non2xx": int(errors.group(1)) if errors else 0}


def _ms(text: str) -> float:
    num, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
