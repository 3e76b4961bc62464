"""The KV scenarios recorded from a real etcd 3.4.23 (see record.py and README.md).

Every scenario starts from a fresh single-member etcd (store revision 1), so a replayer can run
it against an empty petcd. A step is a request dict: method, path and body text (the exact bytes
sent, UTF-8), or `body_gen` for bodies too large to keep (expanded by `record.request_body`).
"""
from __future__ import annotations

import base64
import json


def B(s: str | bytes) -> str:
    """Standard padded base64 of a key or value."""
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _body(body) -> str:
    return body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))


def post(path: str, body="", **extra) -> dict:
    return {"method": "POST", "path": path, "body": _body(body), **extra}


def put(key, value="", **kw) -> dict:
    body = {"key": B(key)}
    if value:
        body["value"] = B(value)
    body.update(kw)
    return post("/v3/kv/put", body)


def rng(key, range_end=None, **kw) -> dict:
    body = {"key": B(key)}
    if range_end is not None:
        body["range_end"] = B(range_end)
    body.update(kw)
    return post("/v3/kv/range", body)


def delete(key, range_end=None, **kw) -> dict:
    body = {"key": B(key)}
    if range_end is not None:
        body["range_end"] = B(range_end)
    body.update(kw)
    return post("/v3/kv/deleterange", body)


def txn(compare=(), success=(), failure=()) -> dict:
    body = {}
    if compare:
        body["compare"] = list(compare)
    if success:
        body["success"] = list(success)
    if failure:
        body["failure"] = list(failure)
    return post("/v3/kv/txn", body)


def compact(revision, **kw) -> dict:
    return post("/v3/kv/compaction", {"revision": revision, **kw})


def op_put(key, value="", **kw) -> dict:
    d = {"key": B(key)}
    if value:
        d["value"] = B(value)
    d.update(kw)
    return {"request_put": d}


def op_range(key, range_end=None, **kw) -> dict:
    d = {"key": B(key)}
    if range_end is not None:
        d["range_end"] = B(range_end)
    d.update(kw)
    return {"request_range": d}


def op_del(key, range_end=None, **kw) -> dict:
    d = {"key": B(key)}
    if range_end is not None:
        d["range_end"] = B(range_end)
    d.update(kw)
    return {"request_delete_range": d}


def op_txn(compare=(), success=(), failure=()) -> dict:
    d = {}
    if compare:
        d["compare"] = list(compare)
    if success:
        d["success"] = list(success)
    if failure:
        d["failure"] = list(failure)
    return {"request_txn": d}


def cmp(key, target, result, value=None, range_end=None) -> dict:
    d = {"key": B(key), "target": target, "result": result}
    if value is not None:
        field = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision",
                 "VALUE": "value", "LEASE": "lease"}[target]
        d[field] = B(value) if target == "VALUE" else value
    if range_end is not None:
        d["range_end"] = B(range_end)
    return d


def grant(lease_id: int, ttl: int = 600) -> dict:
    return post("/v3/lease/grant", {"TTL": ttl, "ID": lease_id})


ALL = {"key": B("\x00"), "range_end": B("\x00")}


def raw(path: str, body: str, method: str = "POST", **extra) -> dict:
    return {"method": method, "path": path, "body": body, **extra}


# The long_keys scenario's data: a shared 495-byte prefix, then tails that put the keys on
# both sides of LMDB's 511-byte limit (496..510 bytes stored as is, longer ones by digest).
_LP = "p" * 495
_LONG_KEYS = [(_LP + "a" * 40, "v1"), (_LP + "b", "v2"), (_LP + "a" * 16 + "c", "v3"),
              (_LP + "a" * 15, "v4"), (_LP, "v5"), (_LP + "a" * 16 + "\u00ff", "v6"),
              ("q" * 600, "v7")]


def S(name: str, doc: str, *steps: dict) -> dict:
    return {"name": name, "doc": doc, "steps": list(steps)}


# The sort scenario's data (revisions in comments):
#   c=1@2, a=3@3, b=2@4, a=0@5, c=9@6, d=5@7
#   a: create 3 mod 5 ver 2 "0" | b: create 4 mod 4 ver 1 "2"
#   c: create 2 mod 6 ver 2 "9" | d: create 7 mod 7 ver 1 "5"
_SORT_DATA = [put("c", "1"), put("a", "3"), put("b", "2"), put("a", "0"), put("c", "9"),
              put("d", "5")]


def _sorts() -> list[dict]:
    steps = []
    for target in ("KEY", "VERSION", "CREATE", "MOD", "VALUE"):
        for order in ("NONE", "ASCEND", "DESCEND"):
            steps.append(post("/v3/kv/range", {**ALL, "sort_target": target,
                                               "sort_order": order}))
    steps.append(post("/v3/kv/range", {**ALL, "sort_target": "MOD", "sort_order": "DESCEND",
                                       "limit": 2}))
    steps.append(post("/v3/kv/range", {**ALL, "sort_target": "VERSION", "limit": 3}))
    steps.append(post("/v3/kv/range", {**ALL, "sort_order": "DESCEND", "limit": 1,
                                       "keys_only": True}))
    return steps


def _compare_matrix() -> list[dict]:
    # foo: create 2, mod 3, version 2, value "bar2", lease 1000 (granted first)
    steps = []
    values = {"VERSION": "2", "CREATE": "2", "MOD": "3", "VALUE": "bar2", "LEASE": "1000"}
    for target, v in values.items():
        for result in ("EQUAL", "GREATER", "LESS", "NOT_EQUAL"):
            steps.append(txn([cmp("foo", target, result, v)], [op_range("foo")],
                             [op_range("foo", count_only=True)]))
    # the same compares on a missing key (zero values; VALUE is always false)
    for target, v in {"VERSION": "0", "CREATE": "0", "MOD": "0", "VALUE": "", "LEASE": "0"}.items():
        for result in ("EQUAL", "NOT_EQUAL", "LESS", "GREATER"):
            steps.append(txn([cmp("missing", target, result, v)], [op_range("x")]))
    return steps


SCENARIOS: list[dict] = [
    S("fresh_store", "A fresh store is at revision 1 and empty.",
      rng("foo"), post("/v3/kv/range", ALL), post("/v3/kv/range", {**ALL, "count_only": True})),

    S("put_basic", "Puts bump the revision, version counts writes, prev_kv returns the old pair.",
      put("foo", "bar"), put("foo", "bar", prev_kv=True), put("foo", "bar2", prev_kv=True),
      rng("foo"), put("new", "v", prev_kv=True), put("empty"), rng("empty"),
      put("bin", b"\x00\xff\xfe"), rng("bin")),

    S("put_empty_key", "Put without a key.",
      post("/v3/kv/put", {}), post("/v3/kv/put", {"value": B("v")}),
      post("/v3/kv/put", {"key": ""}), rng("")),

    S("put_ignore_value", "ignore_value keeps the value; with a value or on a missing key it fails.",
      put("foo", "bar"), put("foo", ignore_value=True), rng("foo"),
      put("foo", "x", ignore_value=True), put("missing", ignore_value=True),
      put("foo", ignore_value=True, prev_kv=True)),

    S("put_leases", "Leases on puts: unknown lease, attach, ignore_lease, detach by a plain put.",
      put("foo", "bar", lease=12345), grant(1000), put("foo", "bar", lease=1000), rng("foo"),
      put("foo", "baz", ignore_lease=True), rng("foo"),
      put("foo", "baz", lease=1000, ignore_lease=True), put("missing", "x", ignore_lease=True),
      put("foo", "qux"), rng("foo"), put("foo", "q", lease="12345", ignore_value=True)),

    S("leases", "Lease service: grant (min TTL, explicit and negative ids, duplicate, too large, "
      "JSON names), time-to-live with keys and for unknown leases, keep-alive streams, the "
      "list, revoke deleting attached keys in one revision, and the /v3/kv/lease aliases.",
      grant(1000, 60), grant(1000, 60), grant(7, 0), grant(8, 1), grant(-5, 30),
      post("/v3/lease/grant", {"TTL": 9000000001, "ID": 9}),
      post("/v3/lease/grant", {"ttl": 30, "id": 11, "TTL": 45, "ID": "12"}),
      post("/v3/lease/grant", '{"TTL":"x"}'),
      put("a", "1", lease=1000), put("b", "2", lease=1000), put("c", "3", lease=7),
      post("/v3/lease/timetolive", {"ID": "1000", "keys": True}),
      post("/v3/kv/lease/timetolive", {"ID": 1000}),
      post("/v3/lease/timetolive", {"ID": "424242", "keys": True}),
      raw("/v3/lease/keepalive", '{"ID":"1000"}{"ID":"5"}\n{"ID":12}'),
      raw("/v3/lease/keepalive", '{"ID":"1000"} {"ID":'),
      raw("/v3/lease/keepalive", '{"ID":true}'),
      post("/v3/lease/revoke", {"ID": 1000}), rng("a", "c"),
      post("/v3/kv/lease/revoke", {"ID": "1000"}), post("/v3/kv/lease/revoke", {"ID": -5}),
      post("/v3/lease/revoke", {"ID": 7}), post("/v3/lease/revoke", {"ID": 8}),
      post("/v3/lease/revoke", {"ID": 12}),
      post("/v3/lease/leases", {}), post("/v3/kv/lease/leases", ""),
      grant(42, 600), post("/v3/lease/leases", {}),
      post("/v3/lease/timetolive", {"ID": 42}), post("/v3/lease/revoke", {})),

    S("range_shapes", "Single key, prefix, from-key, all keys, inverted range, keys_only, count_only, limit.",
      put("a", "1"), put("a1", "2"), put("a2", "3"), put("b", "4"), put("c", "5"),
      put(b"\xff", "6"),
      rng("a"), rng("missing"), rng("a", "b"), rng("a1", "\x00"), post("/v3/kv/range", ALL),
      rng("c", "a"), rng("a", "b", keys_only=True), rng("a", "b", count_only=True),
      rng("a", "b", limit=2), rng("a", "b", limit="3"), rng("a", "b", limit=10),
      rng("a", "b", limit=-1), rng("a", "\x00", limit=1, count_only=True),
      rng("a", "b", serializable=True), rng(b"\xff", "\x00"),
      rng("\x00", "a")),

    S("range_sort", "Every sort target with every order (small sets: Go's sort is then stable).",
      *_SORT_DATA, *_sorts()),

    S("range_filters", "min/max mod/create revision filters; count ignores them and the limit.",
      *_SORT_DATA,
      post("/v3/kv/range", {**ALL, "min_mod_revision": 5}),
      post("/v3/kv/range", {**ALL, "max_mod_revision": 4}),
      post("/v3/kv/range", {**ALL, "min_create_revision": 3}),
      post("/v3/kv/range", {**ALL, "max_create_revision": 3}),
      post("/v3/kv/range", {**ALL, "min_mod_revision": 4, "max_mod_revision": 6}),
      post("/v3/kv/range", {**ALL, "min_create_revision": 3, "limit": 1}),
      post("/v3/kv/range", {**ALL, "min_mod_revision": 5, "count_only": True}),
      post("/v3/kv/range", {**ALL, "max_create_revision": 3, "sort_order": "DESCEND"})),

    S("range_revisions", "Historical reads, future and negative revisions.",
      put("foo", "v1"), put("foo", "v2"), delete("foo"), put("foo", "v3"), put("bar", "x"),
      rng("foo", revision=2), rng("foo", revision=3), rng("foo", revision=4),
      rng("foo", revision=5), rng("foo", revision=0), rng("foo", revision=-1),
      rng("foo", revision=7), rng("foo", revision=100), post("/v3/kv/range", {**ALL, "revision": 3}),
      post("/v3/kv/range", {**ALL, "revision": 1})),

    S("compaction", "Compaction, reads below and at the compact revision, repeated and future compactions.",
      compact(0), put("foo", "v1"), put("foo", "v2"), put("foo", "v3"), put("bar", "b"),
      compact(3), rng("foo", revision=2), rng("foo", revision=3), rng("foo", revision=4),
      compact(3), compact(2), compact(0), compact(100), compact(6),
      compact(4, physical=True), txn(success=[op_range("foo", revision=2)]),
      txn(success=[op_range("foo", revision=9)]), post("/v3/kv/range", {**ALL, "revision": 4}),
      post("/v3/kv/compaction", {})),

    S("compaction_fresh", "Compacting a fresh store (nothing compacted yet).",
      compact(1), compact(1), compact(2)),

    S("deleterange", "Deletes: single, prev_kv, range, no-op (no revision bump), prefix, from-key, all; re-create.",
      put("a", "1"), put("a1", "2"), put("a2", "3"), put("b", "4"), put("c", "5"), put("d", "6"),
      delete("a"), delete("missing"), delete("a1", prev_kv=True), delete("a", "b", prev_kv=True),
      delete("zzz", "zzzz"), delete("c", "\x00", prev_kv=True), put("a", "again"), rng("a"),
      post("/v3/kv/deleterange", {**ALL}), post("/v3/kv/deleterange", {}),
      post("/v3/kv/deleterange", {"range_end": B("z")}), post("/v3/kv/range", ALL)),

    S("txn_compares", "Compare on every target and result, on an existing and a missing key.",
      grant(1000), put("foo", "bar", lease=1000), put("foo", "bar2", lease=1000),
      *_compare_matrix()),

    S("txn_compare_ranges", "Compares with range_end (all keys must match), empty ranges, mismatched target_union.",
      put("a1", "x"), put("a2", "x"), put("a3", "y"),
      txn([cmp("a", "VALUE", "EQUAL", "x", range_end="b")]),
      txn([cmp("a1", "VALUE", "EQUAL", "x", range_end="a3")]),
      txn([cmp("a", "VERSION", "GREATER", "0", range_end="b")]),
      txn([cmp("q", "VERSION", "EQUAL", "0", range_end="r")]),
      txn([cmp("q", "VALUE", "EQUAL", "x", range_end="r")]),
      txn([cmp("a", "CREATE", "LESS", "10", range_end="\x00")]),
      txn([{"key": B("a1"), "target": "MOD", "result": "EQUAL", "version": "1"}]),
      txn([{"key": B("a1"), "target": "MOD", "result": "GREATER", "version": "1"}]),
      txn([{"key": B("a1"), "target": "VALUE", "result": "EQUAL"}]),
      txn([{"key": B("a1")}]),
      txn([cmp("a1", "VERSION", "EQUAL", "1"), cmp("a2", "VERSION", "EQUAL", "2")],
          [op_put("ok", "1")], [op_put("ko", "1")]),
      rng("ko")),

    S("txn_ops", "Txn branches, inner response headers (an op's header revision counts the txn's "
      "writes so far), later ops seeing earlier writes, no-op txns.",
      put("foo", "bar"),
      txn([cmp("foo", "VALUE", "EQUAL", "bar")],
          [op_range("foo"), op_del("nothing"), op_put("t1", "x"), op_range("t1"),
           op_del("nothing2"), op_put("foo", "baz", prev_kv=True), op_range("foo")],
          [op_put("never", "x")]),
      txn(success=[op_del("t1", prev_kv=True), op_range("t1"), op_range("foo")]),
      txn([cmp("foo", "VALUE", "EQUAL", "bar")], [op_put("never", "x")],
          [op_range("foo"), op_put("f", "1"), op_del("nothing")]),
      txn(success=[op_range("foo")]), txn(success=[op_del("nothing")]),
      txn([cmp("foo", "VERSION", "EQUAL", "99")]), post("/v3/kv/txn", {}),
      post("/v3/kv/txn", ""), txn(success=[op_del("f"), op_del("f")]),
      txn(success=[op_put("m", "1"), op_put("n", "2"), op_range("m", "o")])),

    S("txn_nested", "Nested txns: inner header {}, both branches, deeper nesting, revision bump once.",
      put("foo", "bar"),
      txn(success=[op_txn([cmp("foo", "VALUE", "EQUAL", "bar")], [op_put("n1", "1")],
                          [op_put("n2", "2")]), op_put("o", "1")]),
      txn(success=[op_txn([cmp("foo", "VALUE", "EQUAL", "nope")], [op_put("n1", "1")],
                          [op_put("n2", "2"), op_range("n1")])]),
      txn(success=[op_txn(success=[op_txn(success=[op_range("foo")])])]),
      txn([cmp("foo", "VERSION", "EQUAL", "5")], failure=[op_txn(success=[op_del("n1")])]),
      txn(success=[op_txn()]),
      rng("n", "o")),

    S("txn_validation", "Pre-raft txn checks: empty keys, empty ops, too many ops, duplicate keys, their order.",
      txn([{"target": "VERSION"}]), txn(success=[{"request_put": {"value": B("x")}}]),
      txn(success=[op_range("")]), txn(failure=[{"request_delete_range": {}}]),
      txn(success=[{}]), txn(failure=[op_put("a"), {}]),
      txn(success=[op_txn(success=[{}])]),
      txn(success=[op_put("a"), op_put("a")]),
      txn(success=[op_del("a", "c"), op_put("b")]),
      txn(success=[op_del("a"), op_put("a")]),
      txn(success=[op_del("a"), op_del("a")]),
      txn(success=[op_del("a", "\x00"), op_put("b")]),
      txn(success=[op_put("a")], failure=[op_put("a")]),
      txn(success=[op_txn(success=[op_put("a")], failure=[op_put("a")])]),
      txn(success=[op_txn(success=[op_put("a")]), op_put("a")]),
      txn(success=[op_txn(success=[op_put("a")]), op_txn(success=[op_put("a")])]),
      txn(success=[op_txn(success=[op_del("a", "c")]), op_put("b")]),
      txn(success=[op_del("a", "c"), op_txn(failure=[op_put("b")])]),
      txn(success=[op_txn(success=[op_put("k")], failure=[op_put("j")]),
                   op_txn(failure=[op_put("k")])]),
      txn(success=[op_txn(success=[op_txn(success=[op_put("d")])]), op_del("d")]),
      txn(success=[op_put("a", ignore_value=True, value="x")]),
      txn(success=[op_put("a", ignore_lease=True, lease=5)]),
      txn([cmp(f"c{i}", "VERSION", "EQUAL", "0") for i in range(129)]),
      txn(success=[op_put(f"k{i}", "v") for i in range(129)]),
      txn(failure=[op_range(f"k{i}") for i in range(129)]),
      txn([cmp(f"c{i}", "VERSION", "EQUAL", "0") for i in range(128)],
          [op_put(f"k{i}", "v") for i in range(128)], [op_range("x")]),
      txn(success=[op_put(f"k{i}", "v") for i in range(99)]
          + [op_txn(success=[op_put(f"n{i}", "v") for i in range(28)])]),
      txn(success=[op_put(f"k{i}", "v") for i in range(99)]
          + [op_txn(success=[op_put(f"n{i}", "v") for i in range(29)])]),
      txn([cmp("c", "VERSION", "EQUAL", "0")] * 127,
          [op_txn(success=[op_put("a"), op_put("b")])]),
      txn(success=[op_put(f"k{i}", "v") for i in range(129)] + [op_put("")]),
      txn([cmp("", "VERSION", "EQUAL", "0")], [op_put("a"), op_put("a")]),
      txn(success=[op_put("a"), op_put("a"), op_put("")]),
      txn(success=[op_put("a"), op_put("a")], failure=[{}]),
      post("/v3/kv/range", {})),

    S("txn_deep_nesting", "Deeply nested txns: the op budget runs out at about 128 levels; "
      "Go's JSON depth limit (10000) at about 3333; a bad field anywhere is a decode error first.",
      *[{"method": "POST", "path": "/v3/kv/txn",
         "body_gen": {"kind": "nested_txn", "levels": n}} for n in (2, 128, 129, 130, 131)],
      {"method": "POST", "path": "/v3/kv/txn",
       "body_gen": {"kind": "nested_txn", "levels": 129, "leaf": '{"request_put":{"key":"YQ=="}}'}},
      {"method": "POST", "path": "/v3/kv/txn",
       "body_gen": {"kind": "nested_txn", "levels": 128, "leaf": '{"request_put":{"key":"YQ=="}}'}},
      {"method": "POST", "path": "/v3/kv/txn",
       "body_gen": {"kind": "nested_txn", "levels": 1000}},
      {"method": "POST", "path": "/v3/kv/txn",
       "body_gen": {"kind": "nested_txn", "levels": 3000, "leaf": '{"request_put":{"key":"!"}}'}},
      {"method": "POST", "path": "/v3/kv/txn",
       "body_gen": {"kind": "nested_txn", "levels": 3000, "leaf": "null"}},
      *[{"method": "POST", "path": "/v3/kv/txn",
         "body_gen": {"kind": "nested_txn", "levels": n}} for n in (3334, 3335, 3336, 5000)],
      rng("a")),

    S("txn_apply_errors", "Errors of the taken branch at apply time (lease, ignore_*, revisions); untaken branches are not checked.",
      put("foo", "bar"),
      txn(success=[op_put("x", "1", lease=777)]),
      txn([cmp("foo", "VERSION", "EQUAL", "99")], [op_put("x", "1", lease=777)],
          [op_put("y", "1")]),
      txn(success=[op_put("missing", ignore_value=True)]),
      txn(success=[op_put("missing", ignore_lease=True)]),
      txn(success=[op_range("foo", revision=50)]),
      txn(success=[op_put("z", "1"), op_range("foo", revision=50)]),
      rng("z"), rng("y")),

    S("json_names_and_numbers", "lowerCamel names, ints as strings or numbers, enums by name or number, unknown fields, null.",
      put("foo", "bar"), put("foo2", "bar"),
      post("/v3/kv/range", {"key": B("foo"), "rangeEnd": B("fop")}),
      post("/v3/kv/range", {"key": B("foo"), "rangeEnd": B("fop"), "range_end": B("\x00"),
                            "keysOnly": True, "countOnly": False}),
      post("/v3/kv/range", {"key": B("foo"), "range_end": B("foo3"), "rangeEnd": B("foo0")}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "limit": "1"}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "limit": 1}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "limit": " 1 "}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "sortOrder": "DESCEND",
                            "sortTarget": "KEY"}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "sort_order": 2,
                            "sort_target": "4"}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "sort_order": 2,
                            "sort_target": 4}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "sort_order": 7}),
      post("/v3/kv/range", {"key": B("f"), "range_end": B("g"), "sort_order": -1}),
      post("/v3/kv/range", {"key": B("foo"), "unknown": 1, "Key": 5, "KEY": "x",
                            "nested": {"a": [1, 2]}}),
      post("/v3/kv/range", {"key": B("foo"), "limit": None, "range_end": None,
                            "sort_order": None, "serializable": None}),
      post("/v3/kv/range", {"key": B("foo"), "limit": "null"}),
      post("/v3/kv/put", {"key": B("p"), "value": B("1"), "prevKv": True}),
      post("/v3/kv/put", {"key": B("p"), "value": B("2"), "prev_kv": True, "prevKv": False}),
      post("/v3/kv/put", {"key": B("p"), "ignoreValue": True, "prevKv": True}),
      post("/v3/kv/txn", {"compare": [{"key": B("p"), "target": "MOD", "result": "EQUAL",
                                       "modRevision": "5"}],
                          "success": [{"requestRange": {"key": B("p")}}]}),
      post("/v3/kv/txn", {"compare": [{"key": B("p"), "target": 2, "result": 0,
                                       "mod_revision": 5}],
                          "success": [{"requestDeleteRange": {"key": B("p"), "prevKv": True}}]}),
      post("/v3/kv/txn", {"success": [{"requestTxn": {"success": [{"requestPut": {
          "key": B("q")}}]}}]}),
      post("/v3/kv/txn", {"success": [{"request_put": {"key": B("r")},
                                       "request_put_extra": 1}]}),
      post("/v3/kv/range", {"key": [102, 111, 111, 50]}),
      raw("/v3/kv/range", '{"key":"Zm9v","key":"Zm9vMg=="}'),
      raw("/v3/kv/range", '{"key":[102,111,111,null]}'),
      post("/v3/kv/range", {"key": B("foo"), "limit": -0}),
      post("/v3/kv/range", {"key": B("foo"), "limit": "-0"}),
      post("/v3/kv/range", {"key": B("foo"), "revision": "9223372036854775807"}),
      post("/v3/kv/compaction", {"revision": "1", "physical": False}),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"\\u0031"}'),
      raw("/v3/kv/range", '{"k\\u0065y":"Zm9v"}'),
      raw("/v3/kv/range", '{"key":"Zm9v\\/"}'),
      raw("/v3/kv/range", '{"key":"Zm9v\\n"}'),
      raw("/v3/kv/range", '{"key":"Zm9v\\r\\nZm9v"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":"\\u0041SCEND"}'),
      raw("/v3/kv/range", '{"key":"Zm9v"} trailing garbage'),
      raw("/v3/kv/range", '{"key":"Zm9v"}{"key":"YQ=="}'),
      raw("/v3/kv/range", '\r\n\t {"key":"Zm9v"}\n'),
      raw("/v3/kv/range", '{"key":"Zm9v"}', headers={"Content-Type": "application/x-www-form-urlencoded"}),
      raw("/v3/kv/range", '{"key":"Zm9v"}', headers={"Content-Type": "text/plain"})),

    S("json_errors", "Bodies the gateway rejects, with Go's json/base64 error text.",
      raw("/v3/kv/range", '{"key":"Zm9v","limit":1.5}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"1.5"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":1e2}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":1.0}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":99999999999999999999}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":9223372036854775808}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":-9223372036854775809}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"abc"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":""}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"-"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"1."}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"1e"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"tru"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"true"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"1 2"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"01"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"+1"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"0x10"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"[1]"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"{}"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":"\\"1\\""}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":true}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":[1]}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":{"a":1}}'),
      raw("/v3/kv/range", '{"key":"Zm9v","serializable":"true"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","serializable":1}'),
      raw("/v3/kv/range", '{"key":"Zm9v","serializable":0}'),
      raw("/v3/kv/range", '{"key":"Zm9v","count_only":[]}'),
      raw("/v3/kv/put", '{"key":"Zm9v","prev_kv":"false"}'),
      raw("/v3/kv/range", '{"key":"Zm9"}'),
      raw("/v3/kv/range", '{"key":"Zg"}'),
      raw("/v3/kv/range", '{"key":"Zm9vYg"}'),
      raw("/v3/kv/range", '{"key":"Zm9vYg="}'),
      raw("/v3/kv/range", '{"key":"-_-_"}'),
      raw("/v3/kv/range", '{"key":"Pz8_"}'),
      raw("/v3/kv/range", '{"key":"Pz8-Pz8-"}'),
      raw("/v3/kv/range", '{"key":"Zg==Zg=="}'),
      raw("/v3/kv/range", '{"key":"===="}'),
      raw("/v3/kv/range", '{"key":"Z==="}'),
      raw("/v3/kv/range", '{"key":"Zm 9v"}'),
      raw("/v3/kv/range", '{"key":"Zg=\\n"}'),
      raw("/v3/kv/range", '{"key":"Zg=\\nx"}'),
      raw("/v3/kv/range", '{"key":"Zg==\\nx"}'),
      raw("/v3/kv/range", '{"key":"Zg=\\n="}'),
      raw("/v3/kv/range", '{"key":"\\nZg\\r=="}'),
      raw("/v3/kv/range", '{"key":"Zm9v\\nYg"}'),
      raw("/v3/kv/range", '{"key":"Zm9v\\n\\nY"}'),
      raw("/v3/kv/range", '{"key":"Zm9v\\u000a"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","range_end":"Zm9w!"}'),
      raw("/v3/kv/range", '{"key":"\\u00e9AAA"}'),
      raw("/v3/kv/range", '{"key":1}'),
      raw("/v3/kv/range", '{"key":true}'),
      raw("/v3/kv/range", '{"key":{}}'),
      raw("/v3/kv/range", '{"key":[256]}'),
      raw("/v3/kv/range", '{"key":[-1]}'),
      raw("/v3/kv/range", '{"key":[1.5]}'),
      raw("/v3/kv/range", '{"key":["a"]}'),
      raw("/v3/kv/range", '{"key":[[1]]}'),
      raw("/v3/kv/put", '{"key":"Zm9v","value":"YmFy","lease":"x"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":"FOO"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":"ascend"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":"1"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":"foo\\"bar"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_target":"FOO"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":1.5}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":3000000000}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":true}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":[1]}'),
      raw("/v3/kv/range", '{"key":"Zm9v","sort_order":{}}'),
      raw("/v3/kv/txn", '{"compare":[{"key":"Zm9v","result":"FOO"}]}'),
      raw("/v3/kv/txn", '{"compare":[{"key":"Zm9v","target":"FOO"}]}'),
      raw("/v3/kv/txn", '{"compare":[{"key":"Zm9v","target":"VALUE","value":"x"}]}'),
      raw("/v3/kv/txn", '{"compare":[{"key":"Zm9v","target":"MOD","mod_revision":"x"}]}'),
      raw("/v3/kv/txn", '{"compare":{}}'),
      raw("/v3/kv/txn", '{"compare":1}'),
      raw("/v3/kv/txn", '{"compare":"x"}'),
      raw("/v3/kv/txn", '{"compare":[1]}'),
      raw("/v3/kv/txn", '{"compare":[[]]}'),
      raw("/v3/kv/txn", '{"success":[{"request_put":5}]}'),
      raw("/v3/kv/txn", '{"success":[{"request_put":{"key":"Zm9v","lease":1.5}}]}'),
      raw("/v3/kv/txn", '{"success":[{"request_txn":{"failure":[{"request_range":{"key":"!"}}]}}]}'),
      raw("/v3/kv/txn", '{"success":[{"request_put":{"key":"Zm9v"}}],"compare":[{"key":"x"}]}'),
      raw("/v3/kv/txn", '{"success":[{"request_put":null}]}'),
      raw("/v3/kv/range", '{"limit":"x","key":"Zm9v"}'),
      raw("/v3/kv/range", '{"limit":"x","key":"Zm9"}'),
      raw("/v3/kv/range", '{"sort_order":"FOO","limit":"x"}'),
      raw("/v3/kv/range", '{"rangeEnd":"!","range_end":"Zm9v","key":"Zm9v"}'),
      raw("/v3/kv/range", '{"rangeEnd":"Zm9v","range_end":"!","key":"Zm9v"}'),
      raw("/v3/kv/compaction", '{"revision":"x"}'),
      raw("/v3/kv/compaction", '{"physical":"yes"}'),
      raw("/v3/kv/deleterange", '{"key":"Zm9v","prev_kv":null,"range_end":"%%"}')),

    S("json_syntax", "Malformed bodies: Go's json.Decoder messages; the first value only; blank bodies.",
      raw("/v3/kv/range", ""),
      raw("/v3/kv/range", "   \n"),
      raw("/v3/kv/range", "null"),
      raw("/v3/kv/range", "{}"),
      raw("/v3/kv/range", "[]"),
      raw("/v3/kv/range", "1"),
      raw("/v3/kv/range", '"x"'),
      raw("/v3/kv/range", "true"),
      raw("/v3/kv/range", "1x"),
      raw("/v3/kv/range", "nul"),
      raw("/v3/kv/range", "nulx"),
      raw("/v3/kv/range", "{"),
      raw("/v3/kv/range", '{"key":"Zm9v"'),
      raw("/v3/kv/range", '{"key":"Zm9v",'),
      raw("/v3/kv/range", '{"key":"Zm9v",}'),
      raw("/v3/kv/range", '{"key"}'),
      raw("/v3/kv/range", '{"key":}'),
      raw("/v3/kv/range", '{"key" "Zm9v"}'),
      raw("/v3/kv/range", '{"key":"Zm9v" "limit":1}'),
      raw("/v3/kv/range", "{key:1}"),
      raw("/v3/kv/range", "{'key':'Zm9v'}"),
      raw("/v3/kv/range", '{"key":"Zm\n9v"}'),
      raw("/v3/kv/range", '{"key":"Zm9v\\x"}'),
      raw("/v3/kv/range", '{"key":"\\u12G4"}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":01}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":-}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":1.}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":1e+}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":.5}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":+1}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":NaN}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":tru}'),
      raw("/v3/kv/range", '{"key":"Zm9v","limit":falsy}'),
      raw("/v3/kv/range", '{"key":"Zm9v","x":[1,2}'),
      raw("/v3/kv/range", '{"key":"Zm9v","x":[1 2]}'),
      raw("/v3/kv/range", '{"key":"Zm9v","x":[1,]}'),
      raw("/v3/kv/range", '{"key":"Zm9v"]'),
      raw("/v3/kv/range", '\ufeff{"key":"Zm9v"}'),
      raw("/v3/kv/range", '\x0c{"key":"Zm9v"}'),
      raw("/v3/kv/range", "<html>"),
      raw("/v3/kv/range", "{\"key\":\"Zm9v\"\x00}"),
      {"method": "POST", "path": "/v3/kv/range", "body_b64": B(b'{"key":"\xff\xfe"}')},
      {"method": "POST", "path": "/v3/kv/range", "body_b64": B(b'{"key":"Zm9v","x":"\xff"}')},
      {"method": "POST", "path": "/v3/kv/range", "body_b64": B(b'\xff{"key":"Zm9v"}')},
      {"method": "POST", "path": "/v3/kv/range", "body_b64": B(b'\x80')},
      raw("/v3/kv/put", '{"key":"Zm9v","value":"YmFy"} {'),
      *[{"method": "POST", "path": "/v3/kv/range", "body_gen": {"kind": "repeat", "parts": parts}}
        for parts in ([["[", 10000], ["]", 10000]], [["[", 10001], ["]", 10001]],
                      [['{"x":', 10000], ["1", 1], ["}", 10000]],
                      [['{"x":', 10001], ["1", 1], ["}", 10001]], [["[", 10001]])]),

    S("json_null_elements", "A null element in a list of messages: the real gateway panics and closes the connection with no answer.",
      raw("/v3/kv/txn", '{"compare":[null]}'),
      raw("/v3/kv/txn", '{"success":[null]}'),
      raw("/v3/kv/txn", '{"failure":[{"request_txn":{"compare":[null]}}]}'),
      raw("/v3/kv/txn", '{"compare":[null],"success":[{"request_put":7}]}'),
      raw("/v3/kv/range", '{"key":"Zm9v"}')),

    S("paths", "Aliases, wrong methods, unknown paths, /version, /health, CORS preflight.",
      put("foo", "bar"),
      post("/v3beta/kv/range", {"key": B("foo")}),
      post("/v3beta/kv/put", {"key": B("foo"), "value": B("beta")}),
      post("/v3alpha/kv/range", {"key": B("foo")}),
      raw("/v3/kv/range", "", method="GET"),
      raw("/v3/kv/put", '{"key":"Zm9v"}', method="PUT"),
      raw("/v3/kv/range", '{"key":"Zm9v"}', method="DELETE"),
      post("/v3/kv/nope", {}),
      post("/v3/nope", {}),
      post("/v3/kv/range/", {"key": B("foo")}),
      post("/v3//kv/range", {"key": B("foo")}),
      post("/v3/KV/range", {"key": B("foo")}),
      post("/v3/kv/range?x=1", {"key": B("foo")}),
      post("/nope", {}),
      raw("/version", "", method="GET"),
      raw("/version", "", method="POST"),
      raw("/health", "", method="GET"),
      raw("/v3/kv/range", "", method="OPTIONS",
          headers={"Origin": "http://example.com", "Access-Control-Request-Method": "POST"})),

    S("cluster_and_status", "Shapes of maintenance/status and cluster/member/list (values normalized).",
      put("foo", "bar"),
      post("/v3/maintenance/status", {}),
      post("/v3/cluster/member/list", {}),
      post("/v3/cluster/member/list", "")),

    S("members", "The Cluster service's changes and their errors on one member (<member_id>, "
      "<peer_port> and <added_id> are filled in when sent; see record.fill_placeholders).",
      post("/v3/cluster/member/add", {}),
      post("/v3/cluster/member/add", {"peerURLs": ["foo"]}),
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:1/x"]}),
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:<peer_port>"]}),
      post("/v3/cluster/member/add", {"peerURLs": "http://127.0.0.1:1"}),
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:1"], "isLearner": "yes"}),
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:1"], "isLearner": True}),
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:2"], "isLearner": True}),
      post("/v3/cluster/member/promote", {"ID": "<added_id>"}),
      post("/v3/cluster/member/promote", {"ID": "<member_id>"}),
      post("/v3/cluster/member/promote", {"ID": "1"}),
      post("/v3/cluster/member/promote", {}),
      post("/v3/cluster/member/remove", {"ID": "1"}),
      post("/v3/cluster/member/remove", {}),
      post("/v3/cluster/member/remove", {"ID": "<member_id>"}),
      post("/v3/cluster/member/remove", {"ID": -1}),
      post("/v3/cluster/member/update", {"ID": "1", "peerURLs": ["http://127.0.0.1:3"]}),
      post("/v3/cluster/member/update", {"ID": "<member_id>", "peerURLs": ["http://127.0.0.1:1"]}),
      post("/v3/cluster/member/update",
           {"ID": "<member_id>", "peerURLs": ["http://127.0.0.1:<peer_port>"]}),
      post("/v3/cluster/member/remove", {"ID": "<added_id>"}),
      post("/v3/cluster/member/list", {}),
      raw("/v3/cluster/member/add", "", method="GET"),
      # A lone member may add a voter (then it has no quorum), but not a second one; and no
      # learner while a voter is not connected.
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:4"]}),
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:5"]}),
      post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:6"], "isLearner": True})),

    S("request_too_large", "max-request-bytes (1.5 MiB) on the raft request and gRPC's 2 MiB receive limit.",
      {"method": "POST", "path": "/v3/kv/put",
       "body_gen": {"kind": "put", "key": "big", "value_bytes": 1500 * 1024}},
      {"method": "POST", "path": "/v3/kv/put",
       "body_gen": {"kind": "put", "key": "big", "value_bytes": 1572864 - 30}},
      {"method": "POST", "path": "/v3/kv/put",
       "body_gen": {"kind": "put", "key": "big", "value_bytes": 1572864 - 10}},
      {"method": "POST", "path": "/v3/kv/put",
       "body_gen": {"kind": "put", "key": "big", "value_bytes": 1600 * 1024}},
      {"method": "POST", "path": "/v3/kv/put",
       "body_gen": {"kind": "put", "key": "big", "value_bytes": 2100 * 1024}},
      {"method": "POST", "path": "/v3/kv/txn",
       "body_gen": {"kind": "txn_put", "key": "big", "value_bytes": 1600 * 1024}},
      {"method": "POST", "path": "/v3/kv/range",
       "body_gen": {"kind": "range_key", "key_bytes": 1600 * 1024}},
      {"method": "POST", "path": "/v3/kv/put",
       "body_gen": {"kind": "put", "key": "", "value_bytes": 1600 * 1024}},
      rng("big", keys_only=True)),

    S("long_keys", "Keys longer than LMDB's 511-byte key limit, crowded on one 495-byte prefix "
      "(petcd stores them by digest): order, bounds inside the crowd, history, txn, leases.",
      *[put(k, v) for k, v in _LONG_KEYS],
      rng("\0", "\0", keys_only=True), rng(_LP + "a" * 16, _LP + "b", keys_only=True),
      rng(_LP + "a" * 16 + "c", "\0", limit=2, keys_only=True),
      rng(_LP, _LP + "z", count_only=True), rng(_LP + "a" * 40), rng(_LP + "a" * 41),
      rng("\0", "\0", sort_order="DESCEND", sort_target="KEY", keys_only=True),
      put(_LP + "a" * 40, "v9", prev_kv=True), rng(_LP + "a" * 40, revision=2),
      txn([{"key": B(_LP + "a" * 40), "target": "VALUE", "value": B("v9")}],
          [op_put(_LP + "c" * 30, "t"), op_range(_LP + "c", _LP + "d")]),
      grant(77, 600), put(_LP + "d" * 20, "l", lease=77), put("x" * 700, "l", lease=77),
      post("/v3/lease/timetolive", {"ID": 77, "keys": True}),
      post("/v3/lease/revoke", {"ID": 77}), rng("\0", "\0", count_only=True),
      delete(_LP + "a", _LP + "b", prev_kv=True), rng("\0", "\0", keys_only=True),
      rng(_LP + "a" * 40, revision=9)),
]
