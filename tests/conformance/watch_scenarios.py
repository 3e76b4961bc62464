"""Watch scenarios recorded from a real etcd 3.4.23 (record_watch.py) and replayed on petcd.

Each scenario runs on a fresh single member (revision 1). Steps:
- {"op": "open", "path"?, "headers"?}: open the watch stream (request headers, chunked body);
- {"op": "send", "body": text}: one piece of the request body (one or more JSON objects);
- {"op": "end_body"}: the client half-closes (the stream must stay open);
- {"op": "read", "lines": n}: read n messages; recorded with the status and headers at the
  first read. Messages of one read are compared as a multiset (etcd orders the responses of
  different watchers for one revision by map iteration);
- {"op": "response"}: read a whole non-streaming answer (an error);
- {"op": "kv", "request": {...}}: a unary request on another connection, recorded too.

Absence of an answer is shown without waiting: a progress_request sent after the request that
must not be answered has its reply as the very next message.
"""
from __future__ import annotations

from tests.conformance.kv_scenarios import B, delete, post, put


def send(*objs) -> dict:
    import json
    return {"op": "send", "body": "".join(o if isinstance(o, str) else
                                          json.dumps(o, separators=(",", ":")) for o in objs)}


def read(n: int = 1) -> dict:
    return {"op": "read", "lines": n}


def kv(request: dict) -> dict:
    return {"op": "kv", "request": request}


def open_(path: str = "/v3/watch", headers: dict | None = None) -> dict:
    return {"op": "open", "path": path, **({"headers": headers} if headers else {})}


def create(key=None, **kw) -> dict:
    c = {}
    if key is not None:
        c["key"] = B(key)
    if "range_end" in kw:
        kw["range_end"] = B(kw["range_end"])
    c.update(kw)
    return {"create_request": c}


def cancel(wid) -> dict:
    return {"cancel_request": {"watch_id": wid}}


PROGRESS = {"progress_request": {}}

SCENARIOS = [
    {"name": "single_key", "doc": "create, put, put, delete on one key; other keys unseen",
     "steps": [open_(), send(create("foo")), read(), kv(put("foo", "bar")), read(),
               kv(put("fop", "x")), kv(put("foo", "baz")), read(), kv(delete("foo")), read()]},
    {"name": "prefix_prev_kv", "doc": "a range watcher with prev_kv; a txn's events in one "
     "response", "steps": [
        open_(), send(create("a", range_end="b", prev_kv=True)), read(),
        kv(put("a1", "1")), read(), kv(put("a1", "2")), read(),
        kv(post("/v3/kv/txn", {"success": [
            {"request_put": {"key": B("a2"), "value": B("x")}},
            {"request_put": {"key": B("b"), "value": B("y")}},
            {"request_delete_range": {"key": B("a1")}}]})), read()]},
    {"name": "filters", "doc": "NOPUT and NODELETE filters (by name and by number)", "steps": [
        open_(), send(create("k", filters=["NOPUT"])), read(),
        send(create("k", filters=[1], watch_id=5)), read(),
        kv(put("k", "1")), read(), kv(delete("k")), read(), send(PROGRESS), read()]},
    {"name": "from_key", "doc": "range_end \\0 watches every key >= key; empty key accepted",
     "steps": [open_(), send(create("m", range_end="\0")), read(),
               send(create("")), read(),
               kv(put("a", "1")), kv(put("z", "2")), read()]},
    {"name": "history", "doc": "start_revision in the past replays batched history with the "
     "current revision in the header", "steps": [
        kv(put("h", "1")), kv(put("h", "2")), kv(put("x", "0")), kv(put("h", "3")),
        open_(), send(create("h", start_revision=3)), read(2),
        kv(put("h", "4")), read()]},
    {"name": "future_start", "doc": "start_revision in the future waits for it", "steps": [
        open_(), send(create("f", start_revision=4)), read(),
        kv(put("f", "2")), kv(put("f", "3")), kv(put("f", "4")), read(), kv(put("f", "5")),
        read()]},
    {"name": "compacted", "doc": "a start below the compact revision: created, then canceled "
     "with compact_revision (header without revision)", "steps": [
        kv(put("c", "1")), kv(put("c", "2")), kv(put("c", "3")),
        kv(post("/v3/kv/compaction", {"revision": 3, "physical": True})),
        open_(), send(create("c", start_revision=2)), read(2),
        send(create("c", start_revision=3)), read(2),
        send(create("c")), read(), send(cancel(0)), read()]},
    {"name": "ids_and_errors", "doc": "auto ids from 0, explicit ids, duplicate id, empty "
     "range, progress request, cancel (unknown id: no answer)", "steps": [
        open_(), send(create("k"), create("k", watch_id=7), PROGRESS,
                      create("k", watch_id=7), create("b", range_end="a"),
                      create("k"), create("k", watch_id=-5)), read(7),
        send(cancel(7), cancel(99), PROGRESS), read(2),
        send(create("k")), read(), kv(put("k", "v")), read(4)]},
    {"name": "auto_id_skips_taken", "doc": "an explicit id 1 makes the second auto id 2",
     "steps": [open_(), send(create("k", watch_id=1), create("k"), create("k")), read(3)]},
    {"name": "half_close", "doc": "the stream stays open after the body ends", "steps": [
        open_(), send(create("s")), {"op": "end_body"}, read(), kv(put("s", "1")), read()]},
    {"name": "split_objects", "doc": "request objects split across chunks, whitespace between",
     "steps": [open_(), send('{"create_request":{"ke'), send('y":"' + B("q") + '"}}\n\n  '),
               send('{"progress_request"'), send(':{}}'), read(2)]},
    {"name": "bad_first_object", "doc": "a malformed first object: a plain 500, code 2",
     "steps": [open_(), send("{bad"), {"op": "end_body"}, {"op": "response"}]},
    {"name": "bad_base64_first", "doc": "a first object that does not decode: 500, code 2",
     "steps": [open_(), send('{"create_request":{"key":"!!"}}'), {"op": "end_body"},
               {"op": "response"}]},
    {"name": "bad_later_object", "doc": "a malformed later object stops reading silently; "
     "the stream still delivers", "steps": [
        open_(), send(create("l")), read(), send("nope", create("l2")), kv(put("l", "1")),
        kv(put("l2", "1")), read()]},
    {"name": "v3beta", "doc": "/v3beta/watch works as /v3/watch", "steps": [
        open_("/v3beta/watch"), send(create("v")), read(), kv(put("v", "1")), read()]},
    {"name": "fragment", "doc": "fragment=true splits a response over max-request-bytes + "
     "512 KiB; the same response unfragmented for another watcher", "steps": [
        {"op": "kv", "request": {"method": "POST", "path": "/v3/kv/put",
                                 "body_gen": {"kind": "put", "key": "g1",
                                              "value_bytes": 1_000_000}}},
        {"op": "kv", "request": {"method": "POST", "path": "/v3/kv/put",
                                 "body_gen": {"kind": "put", "key": "g2",
                                              "value_bytes": 1_000_000}}},
        {"op": "kv", "request": {"method": "POST", "path": "/v3/kv/put",
                                 "body_gen": {"kind": "put", "key": "g3",
                                              "value_bytes": 1_000_000}}},
        open_(), send(create("g", range_end="h", prev_kv=True, fragment=True)), read(),
        kv(delete("g", "h")), read(2)]},
    {"name": "progress_notify", "doc": "progress_notify sends {header, watch_id} when idle "
     "(the member runs with a 1 s interval)", "steps": [
        open_(), send(create("p", progress_notify=True), create("p", watch_id=3)), read(2),
        read(), kv(put("p", "1")), read(2)]},
]
