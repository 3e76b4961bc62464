"""HTTP request heads at Go's bound, replayed from a real etcd's answers
(tests/conformance/recorded/limits.json, record_limits.py): byte for byte the same 431 past
MaxHeaderBytes + 4096, the same closes, the same answers within; the bound follows
--max-request-header-bytes, and each refusal is counted on /metrics."""
import json
import time
from pathlib import Path

import pytest

from tests.conformance.record_limits import play_http
from .test_watch import metric

pytestmark = pytest.mark.integration

RECORDED = json.loads((Path(__file__).resolve().parents[1] / "conformance" / "recorded"
                       / "limits.json").read_text())


def hits(m, front_end: str, limit: str) -> int:
    """A refusal counter (shown once it counts one)."""
    try:
        return metric(m, f'petcd_client_limit_hits_total{{front_end="{front_end}",'
                         f'limit="{limit}"}}')
    except AssertionError:
        return 0


def same(got: list[dict], want: list[dict]) -> bool:
    """Equal answers; a close is compared by whether it waited (Go waits 500 ms after a
    refusal, so that the client reads it before any reset)."""
    def shape(answers):
        return [{**a, "closed_after_s": (a["closed_after_s"] or 0) >= 0.4}
                if "closed_after_s" in a else a for a in answers]
    return shape(got) == shape(want)


def test_heads_get_etcds_answers(start_member):
    m = start_member(name="heads")
    wrong = []
    for case in RECORDED["http_heads"]:
        got = play_http(m.client_port, case)
        if not same(got, case["etcd"]):
            wrong.append((case["name"], got, case["etcd"]))
    assert not wrong
    assert b"Traceback" not in m.log_path.read_bytes()


def test_the_bounds_follow_the_knobs_and_each_refusal_is_counted(start_member):
    m = start_member(name="small", extra_args=("--max-request-header-bytes", "2048",
                                               "--max-request-bytes", "1024"))
    bound = 2048 + 4096
    before = hits(m, "http", "header_bytes")
    at, past = ({"requests": [{"gen": "header", "path": "/version", "head_bytes": n}]}
                for n in (bound, bound + 1))
    assert play_http(m.client_port, at)[0]["status"] == "HTTP/1.1 200 OK"
    t0 = time.monotonic()
    refused = play_http(m.client_port, past)[0]
    assert refused["raw"].startswith("HTTP/1.1 431 ") and refused["closed"]
    assert time.monotonic() - t0 >= 0.4  # the close waits, as Go's
    assert hits(m, "http", "header_bytes") == before + 1
    # a body far past the message limit is refused unread, and counted
    before = hits(m, "http", "body_bytes")
    status, _, data = m.request("POST", "/v3/kv/put", b'{"key":"YQ==","value":"' +
                                b"A" * (8 << 20) + b'"}')
    assert status == 429 and b"received message larger than max" in data
    assert hits(m, "http", "body_bytes") == before + 1
    # the member serves on
    assert m.post("/v3/kv/put", {"key": "YQ==", "value": "Yg=="})[0] == 200
