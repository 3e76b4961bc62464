"""Live random hostile input against one petcd member, over HTTP and ZeroMQ (hypothesis).

Theory of operation: unlike test_fuzz_conformance.py, which replays a fixed corpus against
etcd's recorded answers, this draws new input on every example (derandomized, so a run is
repeatable, and without hypothesis's database, so CI writes nothing) within a fixed budget of
examples, and checks invariants that hold whatever etcd would say:

- HTTP: every request gets an answer: 200 with a JSON body (or a stream of JSON lines), an
  etcd error body {"error","code","message"} (or a stream's error body) whose HTTP status is
  the one the gateway maps its gRPC code to, or one of Go's plain-text refusals;
- ZeroMQ native: every frame gets a map with its id and either a response map or an error
  map with an int code and a string message;
- a refused txn or put changes nothing: the keys of its own that it would write are absent;
- at the end, no traceback in the member's log, and the member still serves.

Violations are collected over the whole budget and reported together (shrinking is off: it
would stretch the budget, and the report names every input that broke a rule).
"""
from __future__ import annotations

import base64
import itertools
import json

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from petcd.common.errors import HTTP_STATUS, Code
from tests.conformance import fuzz_cases, record_fuzz

pytestmark = pytest.mark.integration

HTTP_EXAMPLES = 170
NATIVE_EXAMPLES = 130
READ_TIMEOUT_S = 10.0
BUDGET = dict(deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))

# Routes whose effects stay with the example: no alarm, auth switch, member change, nor a lock
# or campaign that could block on another example's name, nor a watch (it stays open).
HTTP_ROUTES = ["kv/range", "kv/put", "kv/deleterange", "kv/txn", "kv/compaction",
               "lease/grant", "lease/revoke", "lease/timetolive", "lease/leases",
               "lease/keepalive", "maintenance/status", "maintenance/hash",
               "cluster/member/list", "cluster/member/remove", "auth/user/get",
               "auth/role/get", "auth/authenticate", "election/leader", "election/resign",
               "lock/unlock", "maintenance/transfer-leadership"]
NATIVE_METHODS = ["Range", "Put", "DeleteRange", "Txn", "Compact", "LeaseGrant", "LeaseRevoke",
                  "LeaseKeepAlive", "LeaseTimeToLive", "LeaseLeases", "Status", "MemberList",
                  "Hash", "HashKV", "UserGet", "RoleGet", "Authenticate", "Leader", "Resign",
                  "Unlock"]
GO_TEXTS = {"404 page not found\n", "Not Found\n", "Method Not Allowed\n"}
KEY_PREFIX = b"hz/"


def B(b: bytes) -> str:
    return base64.b64encode(b).decode()


# -- strategies ------------------------------------------------------------------------------

_scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
            | st.text(max_size=10))
json_values = st.recursive(_scalars, lambda ch: st.lists(ch, max_size=3)
                           | st.dictionaries(st.text(max_size=6), ch, max_size=3), max_leaves=6)
_edges = (fuzz_cases.B64_BAD + fuzz_cases.INT_EDGES + fuzz_cases.BAD_ENUMS
          + fuzz_cases.BAD_BOOLS + [f'"{e}"' for e in fuzz_cases.INT_EDGES])
# a field's value as JSON text, which need not be valid JSON
field_text = st.one_of(st.sampled_from(_edges), json_values.map(json.dumps),
                       st.binary(max_size=8).map(lambda b: json.dumps(B(b))),
                       st.integers(-2**65, 2**65).map(str))


@st.composite
def json_object_text(draw, names: list[str], fixed: dict[str, str]) -> str:
    """An object's text: the `fixed` fields (name -> JSON text), then fields drawn from
    `names` and from random names, with drawn values."""
    fields = dict(fixed)
    for name in draw(st.lists(st.sampled_from(names) | st.text(max_size=8), max_size=4)):
        fields[name] = draw(field_text)
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}"


@st.composite
def mangled(draw, text: str) -> bytes:
    """`text` as bytes, sometimes cut short or with a few bytes put in."""
    data = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["as is", "as is", "cut", "insert"]))
    if how == "cut" and data:
        return data[:draw(st.integers(0, len(data) - 1))]
    if how == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data


@st.composite
def txn_text(draw, keys: list[bytes]) -> str:
    """A txn whose success branch puts `keys`, with drawn compares, extra ops and fields."""
    compares = draw(st.lists(json_object_text(
        ["key", "target", "result", "version", "create_revision", "mod_revision", "value",
         "lease", "range_end"], {"key": json.dumps(B(keys[0]))}), max_size=3))
    ops = [json.dumps({"request_put": {"key": B(k), "value": B(b"v")}}) for k in keys]
    extra = draw(st.lists(st.one_of(
        json_object_text(["request_put", "request_range", "request_delete_range",
                          "request_txn"], {}),
        st.sampled_from(["null", "{}", "[]", '{"request_put":null}',
                         '{"request_range":{"key":"%s"}}' % B(keys[0])])), max_size=2))
    success = draw(st.permutations(ops + extra))
    body = {"compare": "[" + ",".join(compares) + "]", "success": "[" + ",".join(success) + "]"}
    for name in draw(st.lists(st.sampled_from(["failure", "compare", "success", "x"]),
                              max_size=2)):
        body[name] = draw(field_text)
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in body.items()) + "}"


_msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
    | st.text(max_size=10) | st.binary(max_size=10),
    lambda ch: st.lists(ch, max_size=3)
    | st.dictionaries(st.text(max_size=8).filter(lambda k: k != "stream"), ch, max_size=3),
    max_leaves=8)
# values near what a field takes, as often as anything at all
_native_values = st.one_of(_msgpack_values, st.binary(max_size=6), st.integers(-3, 3),
                           st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64 - 1, -2**63]))
_native_fields = ["key", "range_end", "value", "lease", "limit", "revision", "sort_order",
                  "sort_target", "prev_kv", "ignore_value", "id", "ttl", "keys", "name",
                  "compare", "success", "failure", "target", "result", "physical", "leader"]


# -- the checks ------------------------------------------------------------------------------

def _http_violation(ans: dict, head: bool) -> str | None:
    """Why an HTTP answer breaks the rules (module docstring), or None. The answer to a HEAD
    has no body to judge: any answer does."""
    finals = [r for r in ans.get("responses", []) if r.get("status", 0) >= 200]
    if not finals:
        return f"no answer: {ans}"
    r = finals[0]
    if head:
        return None
    status = r["status"]
    if status == 200:
        if "json" in r or "lines" in r or not r.get("text"):
            return None
        return f"200 without a JSON body: {r}"
    if status == 301 and r["headers"].get("Location"):
        return None
    if "json" in r or "lines" in r:
        body = r["json"] if "json" in r else r["lines"][-1]
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
            return None if err.get("http_code") == status else f"stream error status: {r}"
        if not (isinstance(body, dict) and isinstance(body.get("code"), int)
                and isinstance(body.get("message"), str)
                and body.get("error") == body["message"]):
            return f"not an etcd error body: {r}"
        try:
            want = HTTP_STATUS[Code(body["code"])]
        except ValueError:
            return f"unknown gRPC code: {r}"
        return None if want == status else f"status {status} for code {body['code']}: {r}"
    if r.get("text", "") in GO_TEXTS or r.get("text", "").startswith("400 Bad Request"):
        return None
    return f"unexpected answer: {r}"


class _Live:
    """One member, the connections to it, and what broke."""

    def __init__(self, member) -> None:
        self.m = member
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, int(READ_TIMEOUT_S * 1000))
        self.sock.connect(f"tcp://127.0.0.1:{member.zmq_port}")
        self.violations: list[str] = []
        self.ids = itertools.count(1)
        self.examples = {"http": 0, "native": 0}

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()

    def key(self, tag: str) -> bytes:
        return KEY_PREFIX + f"{tag}/{next(self.ids)}".encode()

    def exists(self, key: bytes) -> bool:
        status, body = self.m.post("/v3/kv/range", {"key": B(key)})
        return status == 200 and body.get("count") == "1"

    def http(self, method: str, path: str, body: bytes) -> dict:
        req = fuzz_cases.http_request(method, path, body)
        buf, end = record_fuzz.exchange(self.m.client_port, fuzz_cases.request_bytes(req),
                                        False, READ_TIMEOUT_S)
        if not buf:
            return {"closed": True} if end == "closed" else {"timeout": True}
        return {"responses": record_fuzz.parse_responses(buf, method == "HEAD", lambda v: v),
                "end": end}

    def check_http(self, method: str, path: str, body: bytes, writes: list[bytes]) -> None:
        self.examples["http"] += 1
        ans = self.http(method, path, body)
        what = f"{method} {path} {body[:300]!r}"
        broken = _http_violation(ans, method == "HEAD")
        if broken:
            self.violations.append(f"HTTP {what}: {broken}"[:1500])
        finals = [r for r in ans.get("responses", []) if r.get("status", 0) >= 200]
        if not finals or finals[0]["status"] != 200:
            written = [k for k in writes if self.exists(k)]
            if written:
                self.violations.append(f"HTTP {what}: refused ({finals[:1]}), yet wrote "
                                       f"{written}"[:1500])

    def call(self, frame: bytes, rid) -> dict | str:
        """The answer to one frame, or why there is none."""
        self.sock.send(frame)
        while True:
            try:
                raw = self.sock.recv()
            except zmq.Again:
                return f"no answer in {READ_TIMEOUT_S} s"
            try:
                doc = msgpack.unpackb(raw, raw=False, strict_map_key=False)
            except Exception as e:  # noqa: BLE001 - any undecodable answer is the finding
                return f"undecodable answer {raw[:200]!r}: {e}"
            # an answer to an earlier frame that came late is not this one's
            if not isinstance(rid, int) or isinstance(rid, bool) or not isinstance(doc, dict) \
                    or doc.get("id") in (rid, 0):
                return doc

    def check_native(self, frame: bytes, rid, writes: list[bytes]) -> None:
        self.examples["native"] += 1
        doc = self.call(frame, rid)
        what = f"native {frame[:300]!r}"
        if isinstance(doc, str):
            self.violations.append(f"{what}: {doc}")
            return
        ok = isinstance(doc, dict) and "id" in doc and (
            ("response" in doc and isinstance(doc["response"], dict) and "error" not in doc)
            or ("error" in doc and "response" not in doc and isinstance(doc["error"], dict)
                and isinstance(doc["error"].get("code"), int)
                and not isinstance(doc["error"].get("code"), bool)
                and isinstance(doc["error"].get("message"), str)))
        if not ok:
            self.violations.append(f"{what}: malformed answer {doc!r}"[:1500])
        elif isinstance(rid, int) and not isinstance(rid, bool) and 0 < rid < 2**63 \
                and doc["id"] != rid:
            self.violations.append(f"{what}: answered with id {doc['id']}")
        if isinstance(doc, dict) and "error" in doc:
            written = [k for k in writes if self.exists(k)]
            if written:
                self.violations.append(f"{what}: refused ({doc['error']}), yet wrote {written}")


def test_live_fuzz_keeps_the_member_whole(start_member):
    m = start_member(name="live")
    live = _Live(m)
    try:
        _run_http(live)
        _run_native(live)
        log = m.log_path.read_text(errors="replace")
        if "Traceback" in log:
            at = log.index("Traceback")
            live.violations.append("a traceback in the member's log:\n" + log[at:at + 3000])
        key = B(KEY_PREFIX + b"after")
        if m.post("/v3/kv/put", {"key": key, "value": "dg=="})[0] != 200 or \
                m.post("/v3/kv/range", {"key": key})[1].get("count") != "1":
            live.violations.append("the member no longer serves a put and a range")
        doc = live.call(msgpack.packb({"id": 2**40, "method": "Range",
                                       "request": {"key": KEY_PREFIX + b"after"}}), 2**40)
        if not (isinstance(doc, dict) and doc.get("response", {}).get("count") == 1):
            live.violations.append(f"the member no longer serves a native range: {doc}")
    finally:
        live.close()
    assert not live.violations, (
        f"{len(live.violations)} invariant violations in {live.examples}:\n"
        + "\n".join(live.violations))


def _run_http(live: _Live) -> None:
    route_st = st.sampled_from(HTTP_ROUTES)

    @settings(max_examples=HTTP_EXAMPLES, **BUDGET)
    @given(data=st.data())
    def run(data):
        route = data.draw(route_st)
        kind = data.draw(st.sampled_from(["fields", "fields", "txn", "bytes", "json",
                                          "method", "path"]))
        method, path, writes = "POST", "/v3/" + route, []
        if kind == "txn":
            writes = [live.key("txn") for _ in range(data.draw(st.integers(1, 3)))]
            path, text = "/v3/kv/txn", data.draw(txn_text(writes))
        elif kind == "bytes":
            text = None
            body = data.draw(st.binary(max_size=200))
        elif kind == "json":
            text = json.dumps(data.draw(json_values))
        else:
            key = live.key("put")
            fixed = {"key": json.dumps(B(key))} if route == "kv/put" else {}
            writes = [key] if route == "kv/put" else []
            names = list(fuzz_cases.ROUTES.get(route, {})) or ["key", "ID"]
            text = data.draw(json_object_text(names, fixed))
            if kind == "method":
                method = data.draw(st.sampled_from(fuzz_cases.METHODS))
                writes = []
            elif kind == "path":
                tail = data.draw(st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                         max_size=20))
                path = data.draw(st.sampled_from(["/v3/", "/v3beta/", "/"])) + tail
                writes = []
        if text is not None:
            body = data.draw(mangled(text))
        live.check_http(method, path, b"" if method in ("GET", "HEAD") else body, writes)

    run()


def _run_native(live: _Live) -> None:
    @settings(max_examples=NATIVE_EXAMPLES, **BUDGET)
    @given(data=st.data())
    def run(data):
        kind = data.draw(st.sampled_from(["call", "call", "call", "call", "txn", "txn",
                                          "txn", "shape", "bytes"]))
        rid = next(live.ids)
        writes: list[bytes] = []
        if kind == "bytes":
            rid = None  # no id to echo
            frame = data.draw(st.binary(max_size=100))
        elif kind == "shape":  # the envelope itself is wrong
            doc = data.draw(st.dictionaries(st.sampled_from(["id", "method", "request", "x"]),
                                            _msgpack_values, max_size=4))
            doc.pop("stream", None)
            rid = doc.get("id")
            frame = msgpack.packb(doc)
        else:
            known = st.sampled_from(NATIVE_METHODS)
            method = "Txn" if kind == "txn" else data.draw(
                st.one_of(known, known, known, st.text(max_size=10)))
            request = data.draw(st.dictionaries(st.sampled_from(_native_fields)
                                                | st.text(max_size=6), _native_values,
                                                max_size=5))
            if kind == "txn":
                writes = [live.key("ntxn") for _ in range(data.draw(st.integers(1, 2)))]
                extra = data.draw(st.lists(_native_values, max_size=1)) \
                    if data.draw(st.booleans()) else []
                request["success"] = data.draw(st.permutations(
                    [{"request_put": {"key": k, "value": b"v"}} for k in writes] + extra))
                compares = data.draw(st.lists(st.dictionaries(
                    st.sampled_from(_native_fields), _native_values, max_size=4),
                    max_size=2))
                if data.draw(st.booleans()):  # past the key check, into the compares
                    compares = [{"key": writes[0], **c} for c in compares]
                request.setdefault("compare", compares)
            elif method == "Put":
                writes = [live.key("nput")]
                request["key"] = writes[0]
            frame = msgpack.packb({"id": rid, "method": method, "request": request})
        live.check_native(frame, rid, writes)

    run()
