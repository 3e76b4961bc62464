"""ctl/check_perf.py: etcdctl check perf's verdict lines and exit decision, and the key shape
shared with the benchmark, against etcdctl 3.4.23's recorded output
(tests/conformance/recorded/check_perf.json)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from petcd.bench.keys import put_varint
from petcd.bench.report import Stats
from petcd.ctl import check_perf as cp

RECORDED = json.loads((Path(__file__).parents[1] / "conformance" / "recorded" /
                       "check_perf.json").read_text())


def _stats(rps: float, slowest: float, stddev: float, errors=()) -> Stats:
    return Stats(total_s=60.0, fastest_s=0.001, slowest_s=slowest, average_s=0.002,
                 stddev_s=stddev, requests_per_s=rps, latencies_s=(0.001,), errors=errors)


def test_passing_run_prints_etcdctls_lines():
    lines, ok = cp.perf_verdict(_stats(150.02, 0.282816, 0.02674), 150)
    assert ok
    assert lines == ["PASS: Throughput is 151 writes/s", "PASS: Slowest request took 0.282816s",
                     "PASS: Stddev is 0.026740s", "PASS"]
    recorded = RECORDED["runs"][0]
    assert recorded["exit"] == 0
    assert "".join(x + "\n" for x in lines) == recorded["stdout"]


def test_recorded_report_has_the_same_line_shapes():
    shapes = [r"PASS: Throughput is \d+ writes/s", r"PASS: Slowest request took \d+\.\d{6}s",
              r"PASS: Stddev is \d+\.\d{6}s", r"PASS"]
    got = RECORDED["runs"][0]["stdout"].splitlines()
    assert len(got) == len(shapes)
    assert all(re.fullmatch(p, line) for p, line in zip(shapes, got))


def test_every_failure_and_etcdctls_wording():
    lines, ok = cp.perf_verdict(_stats(900.0, 0.75, 0.25, (("etcdserver: too many requests", 3),)),
                                1000)
    assert not ok
    assert lines == ["FAIL: too many errors", "FAIL: ERROR(etcdserver: too many requests) -> 3",
                     "FAIL: Throughput too low: 901 writes/s",
                     "Slowest request took too long: 0.750000s",  # no "FAIL:" here, as etcdctl
                     "Stddev too high: 0.250000s", "FAIL"]


def test_throughput_threshold_is_above_90_percent():
    assert not cp.perf_verdict(_stats(135.0, 0.1, 0.01), 150)[1]   # exactly 0.9: FAIL
    assert cp.perf_verdict(_stats(135.1, 0.1, 0.01), 150)[1]


def test_models_are_etcdctls():
    assert {k: (v.limit_per_s, v.clients, v.duration_s) for k, v in cp.PERF_LOADS.items()} == {
        "s": (150, 50, 60), "m": (1000, 200, 60), "l": (8000, 500, 60), "xl": (15000, 1000, 60)}
    assert cp.LOAD_ALIASES["xLarge"] == "xl" and cp.LOAD_ALIASES["small"] == "s"
    assert (cp.PERF_KEY_BYTES, cp.PERF_VALUE_BYTES) == (256, 1024)


def test_keys_are_gos_put_varint_padded():
    assert put_varint(0, 8) == bytes(8)
    assert put_varint(1, 4) == b"\x02\x00\x00\x00"            # zig-zag
    assert put_varint(-1, 2) == b"\x01\x00"
    assert put_varint(300, 3) == b"\xd8\x04\x00"              # 600 in base-128
    assert len(put_varint((1 << 63) - 2, 256)) == 256
    try:
        put_varint(1 << 20, 2)
    except ValueError:
        pass
    else:
        raise AssertionError("a key too small for its number must be refused")
