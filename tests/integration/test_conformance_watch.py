"""Side by side with a real etcd 3.4.23: replay every recorded watch scenario
(tests/conformance/recorded/watch.json, made by `python -m tests.conformance.record_watch`)
against a fresh petcd member and compare each step's result with etcd's; then the same
conversations over petcd's native ZeroMQ watch stream and over a gRPC Watch call, whose
answers, written as the gateway's JSON, must be etcd's too."""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from petcd.common.kv import WatchResponse
from petcd.stages.api.http import gateway_json
from petcd.stages.api.native import codec as native
from petcd.stages.api.http.json_stream import JsonStream
from tests.conformance.grpc_watch_client import GWatchConn
from tests.conformance.record import _normalize, request_body, send
from tests.conformance.record_watch import _short, play, same
from tests.conformance.recordings import MemberIds, load
from tests.conformance.zmq_watch_client import ZWatchConn


pytestmark = pytest.mark.integration

SCENARIOS = load("watch.json")["scenarios"]
# How the gateway parses a request body (malformed objects) has no stream counterpart.
HTTP_ONLY = {"bad_first_object", "bad_base64_first", "bad_later_object"}
STREAMS = [s for s in SCENARIOS if s["name"] not in HTTP_ONLY]
# etcd was recorded with a 1 s progress-notify interval (record_watch.ETCD_ARGS)
MEMBER_ARGS = ("--watch-progress-notify-interval-ms", "1000")


def start(start_member):
    return start_member(name="conformance", extra_args=MEMBER_ARGS)


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


class NativeStream:
    """Watch stream 1 on a native connection of its own, with WatchStream's dataclasses."""

    def __init__(self, m) -> None:
        self.conn = ZWatchConn(m.zmq_port)
        try:
            assert "opened" in self.conn.open(1)
        except BaseException:
            self.conn.close()
            raise

    def send(self, request) -> None:
        self.conn.request(1, native.to_map(request))

    def end(self) -> None:
        pass  # a native stream has no half-close: only a close, which ends it

    def read(self) -> WatchResponse:
        return native.from_map(WatchResponse, self.conn.read(1))

    def close(self) -> None:
        self.conn.close()


PROTOCOLS = {"native": NativeStream, "grpc": lambda m: GWatchConn(m.client_port)}


def play_stream(m, steps: list[dict], ids, open_stream) -> list[dict]:
    """A scenario over one watch stream of `open_stream(m)`: the body's JSON objects, decoded
    as the gateway decodes them, are sent as WatchRequests; each WatchResponse read is written
    as the gateway would write it; end_body half-closes; KV steps over HTTP."""
    norm = lambda v: _short(_normalize(v, ids))  # noqa: E731
    conn, splitter, out = None, JsonStream(1 << 20), []
    try:
        for step in steps:
            op = step["op"]
            res = {}
            if op == "open":
                conn = open_stream(m)
            elif op == "send":
                for raw in splitter.feed(step["body"].encode()):
                    conn.send(gateway_json.decode_watch_request(raw))
            elif op == "end_body":
                conn.end()
            elif op == "read":
                res = {"lines": [norm(json.loads(gateway_json.encode_stream_result(conn.read())))
                                 for _ in range(step["lines"])]}
            elif op == "kv":
                req = step["request"]
                status, _, body = send(m.client_port, req["method"], req["path"],
                                       request_body(req))
                res = {"status": status, "json": norm(json.loads(body))}
            else:
                raise ValueError(f"no stream counterpart for {op!r}")
            out.append(res)
    finally:
        if conn is not None:
            conn.close()
    return out


def same_lines(want: dict, got: dict) -> bool:
    """A read's lines as a multiset (status and headers are HTTP's); other steps as same()."""
    if "lines" in want:
        return same({"lines": want["lines"]}, got)
    return not got or same(want, got)


@pytest.mark.parametrize("scenario", STREAMS, ids=[s["name"] for s in STREAMS])
def test_watch_scenario_over_native_and_grpc_streams_matches_etcd(scenario, launch_members):
    # A member per protocol (each scenario needs a fresh store), started and played together.
    members = launch_members("conformance", len(PROTOCOLS), MEMBER_ARGS)
    steps = [s["step"] for s in scenario["steps"]]
    with ThreadPoolExecutor(len(PROTOCOLS)) as pool:
        got = list(pool.map(lambda m, p: play_stream(m, steps, MemberIds(m), PROTOCOLS[p]),
                            members, PROTOCOLS))
    bad = [f"{p} {line}" for p, results in zip(PROTOCOLS, got)
           for line in mismatches(scenario, results, same_lines)]
    assert not bad, f"{len(bad)} step(s) differ:\n" + "\n".join(bad)
