"""Side by side with a real etcd 3.4.23: replay every recorded watch scenario
(tests/conformance/recorded/watch.json, made by `python -m tests.conformance.record_watch`)
against a fresh petcd member and compare each step's result with etcd's; then the same
conversations over petcd's native ZeroMQ watch stream, whose answers, written as the gateway's
JSON, must be etcd's too."""
import json

import pytest

from petcd.common.kv import WatchResponse
from petcd.stages.api.http import gateway_json
from petcd.stages.api.native import codec as native
from petcd.stages.api.http.json_stream import JsonStream
from tests.conformance.record import _normalize, request_body, send
from tests.conformance.record_watch import _short, play, same
from tests.conformance.recordings import MemberIds, load
from tests.conformance.zmq_watch_client import ZWatchConn

pytestmark = pytest.mark.integration

SCENARIOS = load("watch.json")["scenarios"]
# How the gateway parses a request body (malformed objects) has no native counterpart.
HTTP_ONLY = {"bad_first_object", "bad_base64_first", "bad_later_object"}
NATIVE = [s for s in SCENARIOS if s["name"] not in HTTP_ONLY]


def start(start_member):
    # etcd was recorded with a 1 s progress-notify interval (record_watch.ETCD_ARGS)
    return start_member(name="conformance",
                        extra_args=("--watch-progress-notify-interval-ms", "1000"))


def mismatches(scenario, got, compare) -> list[str]:
    return [f"step {i}: {s['step']}\n  want {s['result']}\n  got  {g}"
            for i, (s, g) in enumerate(zip(scenario["steps"], got))
            if not compare(s["result"], g)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_watch_scenario_matches_etcd(scenario, start_member):
    m = start(start_member)
    got = play(m.client_port, {"steps": [s["step"] for s in scenario["steps"]]}, MemberIds(m))
    bad = mismatches(scenario, got, same)
    assert not bad, f"{len(bad)} step(s) differ:\n" + "\n".join(bad)


def play_native(m, steps: list[dict], ids) -> list[dict]:
    """A scenario over one native watch stream: the body's JSON objects become native
    requests, each answer is written as the gateway would write it; KV steps over HTTP."""
    norm = lambda v: _short(_normalize(v, ids))  # noqa: E731
    conn, splitter, out = None, JsonStream(1 << 20), []
    try:
        for step in steps:
            op = step["op"]
            res = {}
            if op == "open":
                conn = ZWatchConn(m.zmq_port)
                assert "opened" in conn.open(1)
            elif op == "send":
                for raw in splitter.feed(step["body"].encode()):
                    req = gateway_json.decode_watch_request(raw)
                    conn.request(1, native.to_map(req))
            elif op == "read":
                res = {"lines": [norm(json.loads(gateway_json.encode_stream_result(
                    native.from_map(WatchResponse, conn.read(1)))))
                    for _ in range(step["lines"])]}
            elif op == "kv":
                req = step["request"]
                status, _, body = send(m.client_port, req["method"], req["path"],
                                       request_body(req))
                res = {"status": status, "json": norm(json.loads(body))}
            out.append(res)   # end_body: the native stream has no body to end
    finally:
        if conn is not None:
            conn.close()
    return out


def same_lines(want: dict, got: dict) -> bool:
    """A read's lines as a multiset (status and headers are HTTP's); other steps as same()."""
    if "lines" in want:
        return same({"lines": want["lines"]}, got)
    return not got or same(want, got)


@pytest.mark.parametrize("scenario", NATIVE, ids=[s["name"] for s in NATIVE])
def test_watch_scenario_over_native_stream_matches_etcd(scenario, start_member):
    m = start(start_member)
    got = play_native(m, [s["step"] for s in scenario["steps"]], MemberIds(m))
    bad = mismatches(scenario, got, same_lines)
    assert not bad, f"{len(bad)} step(s) differ:\n" + "\n".join(bad)
