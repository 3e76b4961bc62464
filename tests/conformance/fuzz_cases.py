"""Hostile HTTP requests, recorded side by side from etcd 3.4.23 (record_fuzz.py, README.md).

Theory of operation: `cases()` builds the same corpus on every call. One random.Random with a
fixed seed drives every choice and the classes are generated in a fixed order, so
recorded/fuzz.json stays valid until this file changes (then re-record it). A case is

    {"id": "b64-017", "class": "base64", "group": "seq" | "par", "request": {...},
     "writes": [base64 keys the request would put if it were applied]}

and its request is either structured, {"method", "path", "headers", "body" or "body_b64"}
(sent by `request_bytes` with Host, Content-Length and `Connection: close`, so the server
closes after answering), or raw wire bytes, {"raw" or "raw_b64", "half_close"}, sent as they
are (then the socket's write side is shut down if `half_close`).

Every case is small (under 64 KiB) and independent of the others' state: a case that writes
uses keys of its own (`fz/<id>`), lease ids, user, role, lock and election names are its own,
and no case can change the member for the cases after it. That is why no body may activate an
alarm, add a member that could vote, name `root` (so auth can never be enabled), block on a
lock or election another case holds, or delete past its own key. Group "par" holds the cases
that may wait for the reader's timeout (streams, locks, wire abuse): they run side by side
after the "seq" cases, which run one after the other in order.
"""
from __future__ import annotations

import base64
import json
import random

SEED = 3423
HOST = "localhost"
MAX_CASE_BYTES = 64 * 1024
METHODS = ("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def B(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def dumps(doc) -> str:
    return json.dumps(doc, separators=(",", ":"))


# Integer literals at the edges of int32/uint32/int64/uint64 and of Go's number syntax; each
# goes in as a JSON number and as a JSON string (jsonpb takes 64-bit ints either way).
INT_EDGES = ["0", "-0", "1", "-1", "2147483647", "2147483648", "-2147483648", "-2147483649",
             "4294967295", "4294967296", "9007199254740993", "9223372036854775807",
             "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
             "18446744073709551615", "18446744073709551616", "1e3", "1E3", "1e+3", "1.0",
             "1.5", "-1.5", "0.0", "1e-3", "01", "-01", "00", "+1", ".5", "5.", "0x10",
             "1_000", "Infinity", "NaN", "-", "1e400", "123456789012345678901234567890"]
INT_STRING_ONLY = ['" 1"', '"1 "', '""', '"0x1"', '"1,000"', '"١"']

# Bytes fields: JSON texts spliced in as the field's value. Padding variants, missing padding,
# URL-safe characters, whitespace and CR LF inside, non-zero trailing bits, escapes that decode
# to valid base64, and values of other JSON types (encoding/json takes an array of numbers for
# []byte).
B64_BAD = ['"Zm9v===="', '"Zm9v="', '"Zm9v=="', '"Zg="', '"Zg"', '"Zg==="', '"Zm8"', '"Zm9"',
           '"Zm9vYg"', '"Zm9vYmE"', '"Zm9v YmFy"', '"Zm9v\\nYmFy"', '"Zm9v\\r\\nYmFy"',
           '"Zm9v\\r\\n"', '"Zm9v\\tYmFy"', '" Zm9v"', '"Zm9v "', '"Zm-_"', '"Zm/+"', '"-_-_"',
           '"Zh=="', '"Zm9="', '"Zm9vYh=="', '"=Zm9v"', '"Zm=9v"', '"!!!!"', '"Zm9v\\u00e9"',
           '"\\u0000"', '"===="', '"A"', '"AA"', '"AAA"', '"AA==AA=="', '"Zg==Zg=="',
           '"\\uff3a\\uff3a=="', '"Zm9\\/"', '"\\u005am9v"', '"Zm9v\\u0000"', '"Zm9v\x7f"',
           '123', 'true', '[]', '{}', '[102,111,111]', '[256]', '[-1]', '[1.5]', '["a"]',
           '[null]', '"' + "QUFB" * 40 + '="']

BAD_ENUMS = ['"FOO"', '"none"', '""', '" ASCEND"', '"ASCEND "', '"Ascend"', '-1', '99',
             '2147483648', '1.0', '"1"', 'true', '[]', '{}', '"\\u0041SCEND"']

BAD_BOOLS = ['"true"', '1', '0', '"yes"', 'True', 'tru', '[]', '{}', '"false"', '-0']


# route -> field kinds: "bytes", "int64", "uint64", "bool", "enum", "string", "strings"
ROUTES: dict[str, dict[str, str]] = {
    "kv/range": {"key": "bytes", "range_end": "bytes", "limit": "int64", "revision": "int64",
                 "sort_order": "enum", "sort_target": "enum", "serializable": "bool",
                 "keys_only": "bool", "count_only": "bool", "min_mod_revision": "int64",
                 "max_mod_revision": "int64", "min_create_revision": "int64",
                 "max_create_revision": "int64"},
    "kv/put": {"key": "bytes", "value": "bytes", "lease": "int64", "prev_kv": "bool",
               "ignore_value": "bool", "ignore_lease": "bool"},
    "kv/deleterange": {"key": "bytes", "range_end": "bytes", "prev_kv": "bool"},
    "kv/txn": {"compare": "messages", "success": "messages", "failure": "messages"},
    "kv/compaction": {"revision": "int64", "physical": "bool"},
    "lease/grant": {"TTL": "int64", "ID": "int64"},
    "lease/revoke": {"ID": "int64"},
    "kv/lease/revoke": {"ID": "int64"},
    "lease/timetolive": {"ID": "int64", "keys": "bool"},
    "kv/lease/timetolive": {"ID": "int64", "keys": "bool"},
    "lease/leases": {},
    "kv/lease/leases": {},
    "cluster/member/add": {"peerURLs": "strings", "isLearner": "bool"},
    "cluster/member/remove": {"ID": "uint64"},
    "cluster/member/update": {"ID": "uint64", "peerURLs": "strings"},
    "cluster/member/list": {},
    "cluster/member/promote": {"ID": "uint64"},
    "maintenance/alarm": {"memberID": "uint64", "alarm": "enum"},
    "maintenance/status": {},
    "maintenance/defragment": {},
    "maintenance/hash": {"revision": "int64"},
    "maintenance/transfer-leadership": {"targetID": "uint64"},
    "auth/enable": {},
    "auth/disable": {},
    "auth/authenticate": {"name": "string", "password": "string"},
    "auth/user/add": {"name": "string", "password": "string", "options": "message"},
    "auth/user/get": {"name": "string"},
    "auth/user/list": {},
    "auth/user/delete": {"name": "string"},
    "auth/user/changepw": {"name": "string", "password": "string"},
    "auth/user/grant": {"user": "string", "role": "string"},
    "auth/user/revoke": {"name": "string", "role": "string"},
    "auth/role/add": {"name": "string"},
    "auth/role/get": {"role": "string"},
    "auth/role/list": {},
    "auth/role/delete": {"role": "string"},
    "auth/role/grant": {"name": "string", "perm": "message"},
    "auth/role/revoke": {"role": "string", "key": "bytes", "range_end": "bytes"},
    "lock/lock": {"name": "bytes", "lease": "int64"},
    "lock/unlock": {"key": "bytes"},
    "election/campaign": {"name": "bytes", "lease": "int64", "value": "bytes"},
    "election/proclaim": {"leader": "message", "value": "bytes"},
    "election/leader": {"name": "bytes"},
    "election/resign": {"leader": "message"},
}
# Answered as streams, or blocking until something happens: run in the "par" group.
STREAM_ROUTES = {"watch", "lease/keepalive", "election/observe", "maintenance/snapshot"}
WAITING_ROUTES = STREAM_ROUTES | {"lock/lock", "election/campaign"}
# Where a valid but different name would meet another case's lock or election.
OWN_NAME_ROUTES = {"lock/lock", "election/campaign"}
# A range_end that reaches other cases' keys would delete them.
NO_VALID_RANGE_END = {"kv/deleterange"}
OTHER_PATHS = ("/version", "/health", "/metrics")


class _Ctx:
    """One case's own names: its key, lease id and the names of users and roles."""

    def __init__(self, case_id: str, n: int) -> None:
        self.id = case_id
        self.key = f"fz/{case_id}".encode()
        self.lease = 7_000_000 + n
        self.name = f"fz-{case_id}"


def template(route: str, c: _Ctx) -> dict:
    """A valid request body for `route` that touches only the case's own names."""
    k = B(c.key)
    return {
        "kv/range": {"key": k, "range_end": B(c.key + b"0"), "limit": 1, "sort_order": "ASCEND",
                     "serializable": True},
        "kv/put": {"key": k, "value": B("v"), "prev_kv": True},
        "kv/deleterange": {"key": k, "prev_kv": True},
        "kv/txn": {"compare": [{"key": k, "target": "VERSION", "result": "EQUAL",
                                "version": "0"}],
                   "success": [{"request_put": {"key": k, "value": B("v")}}],
                   "failure": [{"request_range": {"key": k}}]},
        "kv/compaction": {"revision": "1"},
        "lease/grant": {"TTL": 60, "ID": c.lease},
        "lease/revoke": {"ID": c.lease}, "kv/lease/revoke": {"ID": c.lease},
        "lease/timetolive": {"ID": c.lease, "keys": True},
        "kv/lease/timetolive": {"ID": c.lease, "keys": True},
        "cluster/member/add": {"peerURLs": ["ftp//bad"], "isLearner": True},
        "cluster/member/remove": {"ID": "12345"},
        "cluster/member/update": {"ID": "12345", "peerURLs": ["http://127.0.0.1:1"]},
        "cluster/member/promote": {"ID": "12345"},
        "maintenance/alarm": {"action": "GET"},
        "maintenance/hash": {"revision": "1"},
        "maintenance/transfer-leadership": {"targetID": "12345"},
        "auth/authenticate": {"name": c.name, "password": "pw"},
        "auth/user/add": {"name": c.name, "password": "pw", "options": {"no_password": False}},
        "auth/user/get": {"name": c.name}, "auth/user/delete": {"name": c.name},
        "auth/user/changepw": {"name": c.name, "password": "pw2"},
        "auth/user/grant": {"user": c.name, "role": c.name},
        "auth/user/revoke": {"name": c.name, "role": c.name},
        "auth/role/add": {"name": c.name}, "auth/role/get": {"role": c.name},
        "auth/role/delete": {"role": c.name},
        "auth/role/grant": {"name": c.name, "perm": {"permType": "READ", "key": k}},
        "auth/role/revoke": {"role": c.name, "key": k},
        "lock/lock": {"name": k}, "lock/unlock": {"key": B(c.key + b"/1")},
        "election/campaign": {"name": k, "value": B("v")},
        "election/proclaim": {"leader": {"name": k, "key": B(c.key + b"/1"), "rev": "1",
                                         "lease": "1"}, "value": B("v")},
        "election/leader": {"name": k},
        "election/resign": {"leader": {"name": k, "key": B(c.key + b"/1"), "rev": "1",
                                       "lease": "1"}},
        "election/observe": {"name": k},
        "lease/keepalive": {"ID": c.lease},
        "watch": {"create_request": {"key": k}},
    }.get(route, {})


def writes_of(route: str, c: _Ctx) -> list[str]:
    return [B(c.key)] if route in ("kv/put", "kv/txn") else []


_SLOT = "\u0000slot\u0000"
_SLOT_JSON = json.dumps(_SLOT)


def splice(doc, path: tuple, raw: str) -> str:
    """`doc` as JSON text with the value at `path` (keys and list indexes) replaced by the
    JSON text `raw`, which need not be valid JSON."""
    doc = json.loads(json.dumps(doc))
    target = doc
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = _SLOT
    return dumps(doc).replace(_SLOT_JSON, raw)


def as_python(body: bytes):
    """The body as Go's decoder would read it, approximately (invalid UTF-8 becomes U+FFFD,
    the last of duplicated keys wins); None if it is not one JSON value, or nests too deep
    for Python (the deep bodies are built to leave the names alone)."""
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None


def _may_decode(value) -> bool:
    """Whether Go might take `value` as bytes (Go's decoder skips CR and LF; it also takes an
    array of numbers)."""
    if value is None or value == "":
        return False
    if not isinstance(value, str):
        return isinstance(value, list)
    try:
        base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        return True
    except ValueError:
        return False


def safe(route: str, body: bytes, c: _Ctx) -> bool:
    """Whether the body can run without touching other cases' state (module docstring)."""
    text = body.decode("utf-8", "replace").lower()
    if "root" in text:
        return False
    doc = as_python(body)
    if not isinstance(doc, dict):
        return True
    if route == "maintenance/alarm" and doc.get("action") not in ("GET", "DEACTIVATE", 0, 2,
                                                                  None, "BAD", -1, 99):
        return False
    if route in OWN_NAME_ROUTES and doc.get("name") != B(c.key) and \
            _may_decode(doc.get("name", "")):
        return False
    if route in NO_VALID_RANGE_END and _may_decode(doc.get("range_end")):
        return False
    if route == "cluster/member/add" and doc.get("isLearner") is not True and \
            doc.get("peerURLs") not in (None, ["ftp//bad"]):
        return False
    return True


def request_bytes(req: dict) -> bytes:
    """The exact bytes a case sends."""
    if "raw_b64" in req:
        return base64.b64decode(req["raw_b64"])
    if "raw" in req:
        return req["raw"].encode("latin-1")
    from tests.conformance.record import request_body
    body = request_body(req)
    lines = [f"{req['method']} {req['path']} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in (req.get("headers") or {}).items()]
    if body or req["method"] not in ("GET", "HEAD", "OPTIONS"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_request(method: str, path: str, body: bytes | str = b"", headers=None) -> dict:
    if isinstance(body, str):
        body = body.encode("utf-8")
    req: dict = {"method": method, "path": path}
    if headers:
        req["headers"] = dict(headers)
    try:
        text = body.decode("utf-8")
        if "\r" in text:  # kept byte-exact: a JSON reader of the recording would not care
            raise UnicodeDecodeError("utf-8", body, 0, 1, "cr")
        req["body"] = text
    except UnicodeDecodeError:
        req["body_b64"] = base64.b64encode(body).decode()
    return req


def wire_request(raw: bytes, half_close: bool = False) -> dict:
    try:
        text = raw.decode("ascii")
        printable = all(ch in "\r\n\t" or 32 <= ord(ch) < 127 for ch in text)
    except UnicodeDecodeError:
        printable = False
    req = {"raw": text} if printable else {"raw_b64": base64.b64encode(raw).decode()}
    req["half_close"] = half_close
    return req


class _Corpus:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.cases: list[dict] = []
        self.counts: dict[str, int] = {}

    def ctx(self, prefix: str) -> _Ctx:
        n = self.counts.get(prefix, 0) + 1
        self.counts[prefix] = n
        return _Ctx(f"{prefix}-{n:03d}", len(self.cases))

    def add(self, c: _Ctx, cls: str, request: dict, route: str = "",
            writes: list[str] | None = None, wait: bool = False) -> None:
        group = "par" if wait or route in WAITING_ROUTES or "raw" in request \
            or "raw_b64" in request else "seq"
        sent = request_bytes(request)
        assert len(sent) < MAX_CASE_BYTES, c.id
        writes = writes if writes is not None else writes_of(route, c)
        case = {"id": c.id, "class": cls, "group": group, "request": request,
                "writes": [k for k in writes if k.encode() in sent]}
        self.cases.append(case)

    def post(self, prefix: str, cls: str, route: str, build, tries: int = 20,
             headers=None) -> None:
        """A POST to /v3/<route> with the body `build(ctx)` returns (text or bytes), drawn
        again until it is safe() (the draw is seeded, so this is deterministic); none if
        no draw is."""
        c = self.ctx(prefix)
        for _ in range(tries):
            body = build(c)
            body = body.encode("utf-8") if isinstance(body, str) else body
            if safe(route, body, c):
                self.add(c, cls, http_request("POST", "/v3/" + route, body, headers), route)
                return
        self.counts[prefix] -= 1  # a fixed body that is not safe: no case, no id used


# -- mutated JSON --------------------------------------------------------------------------

_INSERTS = ['{', '}', '[', ']', '"', ',', ':', '\\', ' ', 'x', '0', '\x00', '\x7f', '\xff']
_TRAILERS = [' x', '}', '{}', ' {}', '\n\n', '\x00', ',', ']', ' null', '"', '{"key":1}']
_WRONG = ['1', '"s"', 'true', '[]', '{}', '[null]', '{"a":1}', '-1.5', 'null', '""', '[[]]']
_TOPS = ['[]', 'null', 'true', '1', '"x"', '[{}]', '{}{}', '', ' \n\t ', '{', '}', '\ufeff{}',
         '{"":1}', '{"\\u0000":1}']


def _mutate(rng: random.Random, doc: dict) -> str | bytes:
    text = dumps(doc)
    fields = list(doc) or ["key"]
    f = rng.choice(fields)
    kind = rng.randrange(20)
    if kind == 0:
        return text[:rng.randrange(1, max(2, len(text)))]
    if kind == 1:
        i = rng.randrange(len(text))
        return text[:i] + text[i + 1:]
    if kind == 2:
        i = rng.randrange(len(text) + 1)
        # latin-1: the inserted \xff goes in as one raw byte, not UTF-8 (dumps() is ASCII)
        return (text[:i] + rng.choice(_INSERTS) + text[i:]).encode("latin-1")
    if kind == 3:  # duplicated key, the second one with another value
        return "{" + dumps(f) + ":" + rng.choice(_WRONG + ['"YmFk"']) + "," + text[1:] \
            if rng.random() < 0.5 else text[:-1] + ("," if doc else "") + dumps(f) + ":" + \
            rng.choice(_WRONG + ['"YmFk"']) + "}"
    if kind == 4:  # a field name spelled with unicode escapes (decodes to the same name)
        esc = "".join(f"\\u{ord(ch):04x}" if rng.random() < 0.5 else ch for ch in f)
        return text.replace(dumps(f), '"' + esc + '"', 1) if doc else '{"\\u006bey":"YQ=="}'
    if kind == 5:
        return text + rng.choice(_TRAILERS)
    if kind == 6:
        return rng.choice(_TOPS)
    if kind == 7:
        return b"\xef\xbb\xbf" + text.encode()
    if kind == 8:
        return splice(doc, (f,), "null") if doc else '{"key":null}'
    if kind == 9:
        return splice(doc, (f,), rng.choice(_WRONG)) if doc else '{"x":' + rng.choice(_WRONG) + '}'
    if kind == 10:  # invalid UTF-8 inside a string
        i = text.find('"', 1)
        bad = rng.choice([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"])
        return text[:i + 1].encode() + bad + text[i + 1:].encode() if i > 0 else bad
    if kind == 11:  # a raw control character inside a string
        i = text.find('"', 1)
        ch = rng.choice(["\x01", "\n", "\t", "\x1f"])
        return text[:i + 1] + ch + text[i + 1:] if i > 0 else '"' + ch + '"'
    if kind == 12:
        return text.replace('"', "'")
    if kind == 13:
        return text[:-1] + ",}" if doc else "{,}"
    if kind == 14:
        return rng.choice(["/*c*/", "// c\n", "#"]) + text
    if kind == 15:  # a lone surrogate or an escaped NUL in a string value
        return splice(doc, (f,), rng.choice(['"\\ud800"', '"\\udc00x"', '"\\u0000"',
                                             '"\\uD83D\\uDE00"', '"\\x41"', '"\\u00"']))
    if kind == 16:  # field names in other cases, and the lowerCamel name
        name = rng.choice([f.upper(), f.capitalize(), f + " ", " " + f,
                           "".join(p.capitalize() if i else p
                                   for i, p in enumerate(f.split("_")))])
        return text.replace(dumps(f), dumps(name), 1) if doc else '{"KEY":"YQ=="}'
    if kind == 17:
        return splice(doc, (f,), rng.choice(["NaN", "Infinity", "-Infinity", "1" * 400,
                                             "-" + "9" * 30, "1e999999", "0e0", "-0.0e-0"]))
    if kind == 18:
        ws = rng.choice(["\t", "\r\n", "\x0b", "\x0c", "\u00a0", "\u2028", "   "])
        return text.replace(":", ":" + ws).replace(",", ws + ",")
    return rng.choice(['{"a":' + text + '}', '[' + text + ']', text + text,
                       '{"' + "x" * 2000 + '":1}', text.upper()])


def _json_cases(corpus: _Corpus) -> None:
    routes = list(ROUTES) + ["lease/keepalive", "watch", "election/observe"]
    for route in routes:
        for _ in range(3):
            corpus.post("json", "json_mutation", route,
                        lambda c, route=route: _mutate(corpus.rng,
                                                       template(route, c)))


# -- ints, bytes, enums, bools by field ----------------------------------------------------

def _field_cases(corpus: _Corpus) -> None:
    rng = corpus.rng
    edges = [(e, True) for e in INT_EDGES] + [(e, False) for e in INT_EDGES]
    rng.shuffle(edges)
    pos = 0
    for route, kinds in ROUTES.items():
        for field, kind in kinds.items():
            if kind in ("int64", "uint64"):
                for _ in range(3):
                    text, as_string = edges[pos % len(edges)]
                    pos += 1
                    raw = f'"{text}"' if as_string else text
                    corpus.post("int", "int_edges", route,
                                lambda c, f=field, raw=raw, r=route:
                                splice(template(r, c), (f,), raw))
                corpus.post("int", "int_edges", route,
                            lambda c, f=field, r=route:
                            splice(template(r, c), (f,), rng.choice(INT_STRING_ONLY)))
            elif kind == "bytes":
                for raw in rng.sample(B64_BAD, 3):
                    corpus.post("b64", "base64", route,
                                lambda c, f=field, raw=raw, r=route:
                                splice(template(r, c), (f,), raw))
            elif kind == "enum":
                for raw in rng.sample(BAD_ENUMS, 4):
                    corpus.post("json", "json_mutation", route,
                                lambda c, f=field, raw=raw, r=route:
                                splice(template(r, c), (f,), raw))
            elif kind == "bool":
                corpus.post("json", "json_mutation", route,
                            lambda c, f=field, r=route:
                            splice(template(r, c), (f,), rng.choice(BAD_BOOLS)))
    # every bad base64 form at least once, on the put that the issue names
    for raw in B64_BAD:
        corpus.post("b64", "base64", "kv/put",
                    lambda c, raw=raw: splice(template("kv/put", c), ("key",), raw))
    corpus.post("b64", "base64", "kv/put",
                lambda c: '{"key":"Zm9v====","value":"YQ=="}'.replace("Zm9v", B(c.key)[:-4])
                if B(c.key).endswith("=") else '{"key":"%s====","value":"YQ=="}' % B(c.key))
    for raw in rng.sample(B64_BAD, 12):
        corpus.post("b64", "base64", "kv/put",
                    lambda c, raw=raw: splice(template("kv/put", c), ("value",), raw))
    for path in (("compare", 0, "key"), ("compare", 0, "range_end"),
                 ("success", 0, "request_put", "key"), ("success", 0, "request_put", "value"),
                 ("failure", 0, "request_range", "key"),
                 ("failure", 0, "request_range", "range_end")):
        for raw in rng.sample(B64_BAD, 3):
            corpus.post("b64", "base64", "kv/txn",
                        lambda c, p=path, raw=raw: splice(template("kv/txn", c), p, raw))
    for raw in rng.sample(B64_BAD, 4):
        corpus.post("b64", "base64", "kv/txn", lambda c, raw=raw: splice(
            {**template("kv/txn", c), "compare": [{"key": B(c.key), "target": "VALUE",
                                                   "result": "EQUAL", "value": "x"}]},
            ("compare", 0, "value"), raw))


# -- txn shapes ----------------------------------------------------------------------------

_TARGETS = ["VERSION", "CREATE", "MOD", "VALUE", "LEASE"]
_RESULTS = ["EQUAL", "GREATER", "LESS", "NOT_EQUAL"]
_UNION = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision",
          "VALUE": "value", "LEASE": "lease"}


def _txn_cases(corpus: _Corpus) -> None:
    rng = corpus.rng

    def add(build) -> None:
        corpus.post("txn", "txn_malformed", "kv/txn", build)

    bad_enum_values = ['"Version"', '"VERSIONS"', '""', '5', '-1', '4.0', '"4"', 'true',
                       'null', '[]', '"EQ"', '"equal"', '4', '"3"', '2147483648', '" MOD"']
    for raw in bad_enum_values:
        add(lambda c, raw=raw: splice(template("kv/txn", c), ("compare", 0, "target"), raw))
        add(lambda c, raw=raw: splice(template("kv/txn", c), ("compare", 0, "result"), raw))
    for target in _TARGETS:  # a target_union field that does not match the target
        other = rng.choice([t for t in _TARGETS if t != target])
        value = B("v") if other == "VALUE" else "0"

        def build(c, target=target, other=other, value=value):
            t = template("kv/txn", c)
            t["compare"] = [{"key": B(c.key), "target": target,
                             "result": rng.choice(_RESULTS), _UNION[other]: value}]
            return dumps(t)
        add(build)
    for a, b in (("version", "value"), ("mod_revision", "lease"), ("value", "create_revision")):
        add(lambda c, a=a, b=b: dumps({**template("kv/txn", c), "compare": [
            {"key": B(c.key), "target": "VERSION", "result": "EQUAL",
             a: B("v") if a == "value" else "0", b: B("v") if b == "value" else "0"}]}))
    shapes = ['{}', '[]', 'null', '"x"', '1', '[1]', '["x"]', '[[]]', '[null]', '[{}]',
              '[{"request_foo":{}}]', '[{"request_put":[]}]', '[{"request_put":null}]',
              '[{"request_txn":null}]', '[{"request_txn":{}}]', '[{"request_txn":[]}]',
              '[{"requestPut":{"key":"%K"}}]', '[{"RequestPut":{"key":"%K"}}]',
              '[{"request_put":{"key":"%K"},"request_range":{"key":"%K"}}]',
              '[{"request_put":{"key":"%K","value":"dg=="}},{"request_put":{"key":"%K"}}]',
              '[{"request_delete_range":{"key":"%K","range_end":"%E"}},'
              '{"request_put":{"key":"%K"}}]',
              '[{"request_range":{"key":"%K","sort_order":"UP"}}]',
              '[{"request_delete_range":{"key":"%K","prev_kv":"yes"}}]',
              '[{"request_put":{"key":"%K","lease":"1.5"}}]',
              '[{"request_put":{"key":""}}]', '[{"request_range":{}}]',
              '[{"request_txn":{"success":[{"request_put":{"key":"%K"}}],'
              '"failure":[{"request_put":{"key":"%K"}}]}},{"request_put":{"key":"%K"}}]',
              '[{"request_txn":{"compare":[null]}}]', '[{"request_txn":{"success":{}}}]']
    for branch in ("success", "failure", "compare"):
        for shape in rng.sample(shapes, 10 if branch != "compare" else 6):
            def build(c, branch=branch, shape=shape):
                raw = shape.replace("%K", B(c.key)).replace("%E", B(c.key + b"0"))
                t = template("kv/txn", c)
                if branch == "failure":  # make the failure branch the taken one
                    t["compare"][0]["version"] = "7"
                return splice(t, (branch,), raw)
            add(build)
    for n in (128, 129, 200):
        add(lambda c, n=n: dumps({"success": [{"request_range": {"key": B(c.key)}}] * n}))
    add(lambda c: dumps({"compare": [{"key": B(c.key), "target": "VERSION", "result": "EQUAL",
                                      "version": "0"}] * 129}))
    add(lambda c: dumps({"compare": [{"target": "VERSION", "result": "EQUAL"}],
                         "success": [{"request_put": {"key": B(c.key)}}]}))
    add(lambda c: dumps({"compare": [{"key": B(c.key), "target": "VALUE", "result": "EQUAL"}],
                         "success": [{"request_put": {"key": B(c.key)}}]}))
    add(lambda c: '{"compare":[{"key":"%s","target":"VERSION","result":"EQUAL","version":"0"},'
        '],"success":[]}' % B(c.key))
    add(lambda c: dumps(template("kv/txn", c))[:-1] + ',"compare":{}}')


# -- deep nesting --------------------------------------------------------------------------

def _nest_cases(corpus: _Corpus) -> None:
    for n in (100, 1000, 9999, 10000, 10001, 20000):
        corpus.post("nest", "deep_nesting", "kv/put", lambda c, n=n: splice(
            template("kv/put", c), ("x",), "[" * n + "]" * n))
    for n in (1000, 10001):
        corpus.post("nest", "deep_nesting", "kv/range", lambda c, n=n: splice(
            template("kv/range", c), ("x",), '{"":' * n + "1" + "}" * n))
    corpus.post("nest", "deep_nesting", "kv/range", lambda c: "[" * 10001 + "]" * 10001)
    corpus.post("nest", "deep_nesting", "kv/range", lambda c: "[" * 5000)
    corpus.post("nest", "deep_nesting", "kv/put", lambda c: '{"key":' + "[" * 3000)
    for levels in (2, 64, 100, 101, 129, 200, 1000):
        def build(c, levels=levels):
            leaf = '{"success":[{"request_put":{"key":"%s","value":"dg=="}}]}' % B(c.key)
            n = levels - 1
            return '{"success":[{"request_txn":' * n + leaf + "}]}" * n
        corpus.post("nest", "deep_nesting", "kv/txn", build)
    for route in ("watch", "lease/keepalive"):
        corpus.post("nest", "deep_nesting", route, lambda c: "[" * 10001 + "]" * 10001)
        corpus.post("nest", "deep_nesting", route, lambda c, r=route: splice(
            template(r, c), ("x",), "[" * 10001 + "]" * 10001))


# -- methods and paths ---------------------------------------------------------------------

def _method_cases(corpus: _Corpus) -> None:
    rng = corpus.rng
    every = [r for r in ROUTES if r.startswith(("lease/", "kv/lease/"))] + \
        ["kv/range", "kv/put", "watch", "lease/keepalive", "lock/lock"]
    others = [r for r in list(ROUTES) + sorted(STREAM_ROUTES) if r not in every]
    plan = [(r, m) for r in every for m in METHODS]
    plan += [(r, rng.choice(METHODS)) for r in others]
    plan += [(p, m) for p in OTHER_PATHS for m in ("POST", "PUT", "HEAD", "DELETE")]
    for route, method in plan:
        c = corpus.ctx("method")
        path = route if route.startswith("/") else "/v3/" + route
        body = b"" if method in ("GET", "HEAD") or route.startswith("/") else \
            dumps(template(route, c)).encode()
        corpus.add(c, "methods", http_request(method, path, body), route,
                   writes=writes_of(route, c) if method == "POST" else [])
    for route in ("kv/range", "watch", "lease/keepalive"):
        c = corpus.ctx("method")
        corpus.add(c, "methods", http_request("GET", "/v3/" + route,
                                              dumps(template(route, c))), route, writes=[])
    for method in ("FOO", "post", "CONNECT", "TRACE", "PROPFIND"):
        c = corpus.ctx("method")
        corpus.add(c, "methods", http_request(method, "/v3/kv/range",
                                              dumps(template("kv/range", c))), writes=[])


_PATHS = ["/v3", "/v3/", "/v3/lock/lock", "/v3/kv/range%", "/v3/kv/range%2", "/v3/kv%2Frange",
          "/v3/kv/range/", "//v3/kv/range", "/v3//kv/range", "/v3/kv/./range",
          "/v3/kv/../kv/range", "/v3/kv/range?x=1", "/v3/kv/range?key=Zm9v", "/v3/kv/range?%zz",
          "/v3/kv/range?", "/v3/kv/range#frag", "/v3beta/kv/range", "/v3beta/kv/put",
          "/v3beta/lease/grant", "/v3alpha/kv/range", "/V3/kv/range", "/v3/KV/range",
          "/v3/kv/Range", "/v3/kv/range;x", "/v3/kv/range%00", "/v3/kv/ran%67e",
          "/v3/kv/range%20", "/v3/kv/range/x", "/v3/kv", "/v3/lease", "/v3/watch/",
          "/v3/maintenance", "/", "/version/", "/health?x", "/metrics/", "/debug/vars",
          "/debug/pprof/", "/v2/keys/foo", "/v3/kv/range" + "/x" * 1000, "/%", "/v3%",
          "/v3/lock/lock/", "/v3beta/", "/v3/lease/keepalive/", "/v3/kv/put%"]


def _path_cases(corpus: _Corpus) -> None:
    for path in _PATHS:
        c = corpus.ctx("path")
        route = "kv/put" if "put" in path else "kv/range"
        if path.startswith("/v3/lock/lock"):
            route = "lock/lock"
        corpus.add(c, "odd_paths", http_request("POST", path, dumps(template(route, c))),
                   route if route == "lock/lock" else "", writes=writes_of(route, c))


_HEADERS = [{"Content-Type": "application/json"}, {"Content-Type": "text/plain"},
            {"Content-Type": "application/x-www-form-urlencoded"},
            {"Content-Type": "multipart/form-data; boundary=x"},
            {"Content-Type": "application/grpc"}, {"Content-Type": "application/grpc+proto"},
            {"Content-Type": "application/json; charset=latin-1"}, {"Content-Type": ""},
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-HTTP-Method-Override": "GET"},
            {"X-HTTP-Method-Override": "PUT"},
            {"Grpc-Metadata-Hasleader": "true"}, {"Grpc-Metadata-Hasleader": "maybe"},
            {"Grpc-Metadata-Token": "garbage"}, {"Grpc-Metadata-Authorization": "garbage"},
            {"Grpc-Metadata-Content-Type": "application/json"},
            {"Grpc-Metadata-": "x"}, {"Grpc-Metadata-X-Y": "\u00e9"},
            {"Grpc-Timeout": "1n"}, {"Grpc-Timeout": "xyz"}, {"Grpc-Timeout": "99999999H"},
            {"Grpc-Timeout": "10S"},
            {"Authorization": "garbage"}, {"Authorization": "Bearer garbage"},
            {"Authorization": ""}, {"Authorization": "Basic cm9vdDpyb290"},
            {"Authorization": "x" * 8000}, {"Authorization": "a.1"},
            {"Accept": "application/xml"}, {"Accept-Encoding": "gzip"},
            {"Content-Encoding": "gzip"}, {"Origin": "http://evil.example"},
            {"X-Forwarded-For": "1.2.3.4"}, {"Cookie": "a=b"}, {"Big": "y" * 40000},
            {f"H{i}": "v" for i in range(150)}]


def _header_cases(corpus: _Corpus) -> None:
    for i, headers in enumerate(_HEADERS):
        route = "kv/put" if i % 2 else "kv/range"
        corpus.post("header", "headers", route, lambda c, r=route: dumps(template(r, c)),
                    headers=headers)
    c = corpus.ctx("header")
    corpus.add(c, "headers", http_request("GET", "/v3/watch", b"", {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}), "watch", writes=[])
    c = corpus.ctx("header")
    corpus.add(c, "headers", http_request("GET", "/v3/kv/range", b"", {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}), writes=[], wait=True)


# -- streams ---------------------------------------------------------------------------------

def _stream_cases(corpus: _Corpus) -> None:
    keepalive = ['{"ID":"1"}{"ID":"2"}', '{"ID":1.5}', '{"ID":"x"}', '{"ID":"%L"} {"ID":',
                 '{"ID": }{"ID":"1"}', '[]', '{"ID":"9223372036854775808"}', '', ' \n ',
                 'null', '{"ID":null}', '{}', '{"ID":"%L"} garbage', '{"ID":"%L"}\n{"ID":"x"}',
                 '{"ID":"%L"}{"ID":"%L"}{"ID":"%L"}', '5', '"x"', '{"ID":{"x":1}}',
                 '{"ID":"%L"}]', '{"ID":"%L"},{"ID":"%L"}', '{"id":"%L"}', '{"ID":-1}',
                 '\ufeff{"ID":"%L"}', '{"ID":"%L"}\x00']
    for body in keepalive:
        corpus.post("stream", "streams", "lease/keepalive",
                    lambda c, b=body: b.replace("%L", str(c.lease)))
    watch = ['{"create_request":{"key":1}}', '{', 'x', '[]', '{"create_request":{"key":"%Q"}}',
             '{"cancel_request":{"watch_id":"x"}}', '{"progress_request":[]}', 'null', '{}',
             '{"create_request":{"key":"%K"}}{', '{"create_request":{"key":"%K"}} x',
             '{"create_request":{"key":"%K","filters":["NOPUT","BAD"]}}',
             '{"create_request":{"key":"%K","filters":"NOPUT"}}',
             '{"create_request":{"key":"%K","start_revision":"x"}}',
             '{"create_request":{"key":"%K"},"cancel_request":{"watch_id":1}}',
             '{"create_request":null}', '{"create_request":[]}', '']
    for body in watch:
        corpus.post("stream", "streams", "watch", lambda c, b=body: b.replace(
            "%K", B(c.key)).replace("%Q", B(c.key) + "===="))
    for body in ('{"name":1}', '{"name":"%K"}', '{', '{"name":"%K===="}'):
        corpus.post("stream", "streams", "election/observe",
                    lambda c, b=body: b.replace("%K", B(c.key)))
    for body in ('{}', '{"x":', '[]'):
        corpus.post("stream", "streams", "maintenance/snapshot", lambda c, b=body: b)


# -- wire-level abuse over a raw socket ------------------------------------------------------

def _head(method: str, path: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    return "\r\n".join([f"{method} {path} {version}", *headers, "", ""]).encode("latin-1")


def _wire_cases(corpus: _Corpus) -> None:
    def add(build, half_close: bool = False, route: str = "kv/put") -> None:
        c = corpus.ctx("wire")
        body = dumps(template(route, c)).encode()
        corpus.add(c, "wire", wire_request(build(c, body, "/v3/" + route), half_close),
                   route, writes=writes_of(route, c))

    host = f"Host: {HOST}"
    for route in ("kv/deleterange", "kv/put", "kv/range", "kv/txn", "lease/grant", "watch",
                  "lease/keepalive"):
        add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b) + 20}") + b,
            True, route)
    for route in ("kv/deleterange", "kv/put"):
        add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b) + 20}") + b,
            False, route)
    for route in ("kv/put", "kv/txn", "kv/range"):
        add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b) - 5}") + b,
            False, route)
        add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b) - 5}",
                                  "Connection: close") + b, False, route)
    for cl in ("abc", "-1", "1e3", " {n} ", "0x10", "+{n}", "99999999999999999999", "{n}.0",
               "", "{n}, {n}"):
        add(lambda c, b, p, cl=cl: _head("POST", p, host, "Content-Length: " + cl.format(
            n=len(b)), "Connection: close") + b)
    add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b)}",
                              f"Content-Length: {len(b)}", "Connection: close") + b)
    add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b)}",
                              f"Content-Length: {len(b) + 1}", "Connection: close") + b, True)
    add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b)}",
                              "Transfer-Encoding: chunked", "Connection: close")
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(b), b))
    te = ("Transfer-Encoding: chunked", "Connection: close")
    for route in ("kv/put", "kv/txn"):
        add(lambda c, b, p: _head("POST", p, host, *te) + b"zz\r\n" + b + b"\r\n0\r\n\r\n",
            route=route)
        add(lambda c, b, p: _head("POST", p, host, *te) + b"%x\r\n%s0\r\n\r\n" % (len(b), b),
            route=route)
        add(lambda c, b, p: _head("POST", p, host, *te)
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(b) - 4, b), route=route)
        add(lambda c, b, p: _head("POST", p, host, *te) + b"%x\r\n%s\r\n" % (len(b), b), True,
            route)
    add(lambda c, b, p: _head("POST", p, host, *te) + b"%x\r\n%s\r\n" % (len(b), b), False)
    for framing in (b"%X;ext=1\r\n%s\r\n0\r\n\r\n", b" %x\r\n%s\r\n0\r\n\r\n",
                    b"%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n", b"%x\n%s\n0\n\n",
                    b"00000000000000000%x\r\n%s\r\n0\r\n\r\n",
                    b"%x\r\n%s\r\nffffffffffffffffff\r\n\r\n"):
        add(lambda c, b, p, f=framing: _head("POST", p, host, *te) + f % (len(b), b))
    for tes in (("Transfer-Encoding: gzip, chunked",), ("Transfer-Encoding: identity",),
                ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
                ("Transfer-Encoding: Chunked",), ("Transfer-Encoding: chunked, identity",),
                ("Transfer-Encoding:  chunked",)):
        add(lambda c, b, p, tes=tes: _head("POST", p, host, *tes, "Connection: close")
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(b), b))
    # request lines and versions
    add(lambda c, b, p: _head("POST", p, f"Content-Length: {len(b)}", version="HTTP/1.0") + b)
    add(lambda c, b, p: _head("POST", p, host, "Connection: keep-alive",
                              f"Content-Length: {len(b)}", version="HTTP/1.0") + b)
    add(lambda c, b, p: _head("POST", p, f"Content-Length: {len(b)}", "Connection: close") + b)
    add(lambda c, b, p: _head("POST", p, host, host, f"Content-Length: {len(b)}") + b)
    for version in ("HTTP/2.0", "http/1.1", "HTTP/1.2", "HTTP/9.9", "HTTP/1", "HTTP/1.1 x",
                    "HTTX/1.1"):
        add(lambda c, b, p, v=version: _head("POST", p, host, f"Content-Length: {len(b)}",
                                             "Connection: close", version=v) + b)
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"POST /v3/kv/put\r\n\r\n",
                 b"GET /\r\n", b"POST  /v3/kv/range HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"PO ST /v3/kv/range HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"POST\t/v3/kv/range\tHTTP/1.1\r\nHost: x\r\n\r\n",
                 b"G" * 5000 + b" / HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"\r\n\r\nGET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 b"GET /version HTTP/1.1\nHost: x\nConnection: close\n\n",
                 b"GET /version HTTP/1.1\r\nHost x\r\n\r\n",
                 b"GET /version HTTP/1.1\r\nHost : x\r\n\r\n",
                 b"GET /version HTTP/1.1\r\nHost: x\r\n folded\r\nConnection: close\r\n\r\n",
                 b"GET /version HTTP/1.1\r\nHost: x\r\nX(y): 1\r\n\r\n",
                 b"GET /version HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
                 b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 b"POST http://localhost/v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 2"
                 b"\r\nConnection: close\r\n\r\n{}",
                 b"GET /v3/kv/range%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)),
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                 b"", b"GET /version HTTP/1.1\r\nHost: x\r\n"):
        # Half-closed only when incomplete: Go cancels a request whose client half-closes
        # (its background read sees EOF), so a complete request would race that.
        complete = junk.endswith((b"\r\n\r\n", b"\n\n", b"{}"))
        add(lambda c, b, p, j=junk: j, not complete)
    add(lambda c, b, p: b"", False)
    # pipelined: two requests in one write, and a good request followed by garbage
    add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b)}") + b
        + _head("POST", "/v3/kv/range", host, f"Content-Length: {len(b)}",
                "Connection: close") + b)
    add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b)}") + b
        + b"\x00garbage\r\n\r\n")
    add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b)}",
                              "Expect: 100-continue", "Connection: close") + b)
    add(lambda c, b, p: _head("POST", p, host, f"Content-Length: {len(b)}",
                              "Expect: something-else", "Connection: close") + b)


def cases() -> list[dict]:
    """The corpus, in recording order."""
    corpus = _Corpus()
    for build in (_json_cases, _field_cases, _txn_cases, _nest_cases, _method_cases,
                  _path_cases, _header_cases, _stream_cases, _wire_cases):
        build(corpus)
    ids = [c["id"] for c in corpus.cases]
    assert len(ids) == len(set(ids))
    return corpus.cases


if __name__ == "__main__":
    import collections
    all_cases = cases()
    print(len(all_cases), dict(collections.Counter(c["class"] for c in all_cases)),
          dict(collections.Counter(c["group"] for c in all_cases)))
