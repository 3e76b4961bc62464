"""bench/grpc_compare.py without servers: the request files are gRPC messages that rpc_pb2
parses back, h2load's report and per-call log are read right, and a run whose gRPC calls
failed (HTTP 200, no message) is flagged."""
from __future__ import annotations

from pathlib import Path

import pytest

from petcd.bench import grpc_compare as g
from petcd.common.proto import rpc_pb2

# h2load 1.52's report of 2 s of puts with an empty key: each answer is HTTP 200 with
# grpc-status 3 in a trailers-only answer, so no data.
FAILED_PUTS = """\
finished in 3.00s, 6645.00 req/s, 279.04KB/s
requests: 13290 total, 13290 started, 13290 done, 13290 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 13290 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 558.08KB (571470) total, 74.86KB (76653) headers (space savings 95.70%), 0B (0) data
                     min         max         mean         sd        +/- sd
time for request:       37us      2.66ms       139us        72us    90.00%
time for connect:        0us         0us         0us         0us     0.00%
time to 1st byte:        0us         0us         0us         0us     0.00%
req/s           :    6644.35     6644.35     6644.35        0.00   100.00%
"""


def test_request_files_are_grpc_messages(tmp_path):
    files = g.write_request_files(str(tmp_path))
    flag, body = g.parse_grpc_frame(Path(files["Put"]).read_bytes())
    put = rpc_pb2.PutRequest.FromString(body)
    assert flag == 0 and len(put.key) == 16 and put.value == b"v" * 64
    flag, body = g.parse_grpc_frame(Path(files["Range"]).read_bytes())
    rng = rpc_pb2.RangeRequest.FromString(body)
    assert flag == 0 and rng.key == put.key and not rng.serializable and not rng.range_end


def test_frame_prefix_is_big_endian_length():
    frame = g.grpc_frame(rpc_pb2.PutRequest(key=b"k" * 300))
    assert frame[:5] == b"\x00" + (len(frame) - 5).to_bytes(4, "big")
    with pytest.raises(ValueError):
        g.parse_grpc_frame(frame[:-1])


def test_parse_h2load_report():
    r = g.parse_h2load(FAILED_PUTS)
    assert (r["rps"], r["done"], r["succeeded"], r["non2xx"], r["data_bytes"]) == (
        6645.0, 13290, 13290, 0, 0)
    assert (r["min_ms"], r["max_ms"], r["mean_ms"]) == pytest.approx((0.037, 2.66, 0.139))


def test_log_percentiles(tmp_path):
    log = tmp_path / "h2load.log"
    log.write_text("".join(f"1700000000{i:06d}\t200\t{(i + 1) * 1000}\n" for i in range(100)))
    assert g.log_percentiles(str(log)) == {"p50_ms": 50.0, "p90_ms": 90.0, "p99_ms": 99.0}


def test_failed_grpc_calls_are_flagged():
    put = next(w for w in g.WORKLOADS if w.method == "Put")
    r = {**g.parse_h2load(FAILED_PUTS), "revision_delta": 0, "applied_per_s": 0.0}
    problems = g.checks("etcd", put, r, answer_size=50)
    assert len(problems) == 3 and all(p.startswith("etcd, put") for p in problems)
    ok = {**r, "data_bytes": 50 * 13290, "revision_delta": 20000, "applied_per_s": 6600.0}
    assert g.checks("etcd", put, ok, answer_size=50) == []
