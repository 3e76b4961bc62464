"""From what the harness sent and received (gateway JSON) to the checker's history.

Theory of operation: traffic.py and watchers.py record raw requests and answers, exactly as
they crossed the wire; this module reads them the way an etcd client would: base64 keys and
values, int64 strings, omitted defaults (a missing `count`, `succeeded` or event `type` is the
zero value). An answer with an HTTP error becomes an ErrorResponse with etcd's message; a
request with no answer has an unknown outcome (response None).
"""
from __future__ import annotations

import base64

from .history import (
    Compact, CompactResponse, Compare, Delete, DeleteResponse, ErrorResponse, Event, Get,
    History, KeyValue, LeaseGrant, LeaseGrantResponse, LeaseRevoke, LeaseRevokeResponse,
    Operation, Put, PutResponse, Range, RangeResponse, Txn, TxnResponse, WatchRequest,
    WatchResponse, WatchStream)
from .traffic import PREFIX, PREFIX_END, RawOp
from .watchers import RawStream

_OPS = {"EQUAL": "=", "NOT_EQUAL": "!=", "GREATER": ">", "LESS": "<"}
_TARGET_FIELD = {"VALUE": "value", "MOD": "mod_revision", "CREATE": "create_revision",
                 "VERSION": "version", "LEASE": "lease"}


def _s(b64: str | None) -> str:
    return base64.b64decode(b64).decode() if b64 else ""


def _i(v) -> int:
    return int(v) if v not in (None, "") else 0


def _range_request(body: dict):
    if body.get("range_end"):
        return Range(_s(body["key"]), _s(body["range_end"]), _i(body.get("revision")),
                     _i(body.get("limit")), bool(body.get("keys_only")),
                     bool(body.get("serializable")))
    return Get(_s(body["key"]), _i(body.get("revision")), bool(body.get("serializable")))


def _compare(c: dict) -> Compare:
    target = c.get("target", "VERSION")  # the enum's zero value is omitted on the wire
    raw = c.get(_TARGET_FIELD[target])
    value = _s(raw) if target == "VALUE" else _i(raw)
    return Compare(_s(c["key"]), target, _OPS[c.get("result", "EQUAL")], value)


def _txn_op(op: dict):
    if "request_put" in op:
        p = op["request_put"]
        return Put(_s(p["key"]), _s(p.get("value")), _i(p.get("lease")))
    if "request_delete_range" in op:
        return Delete(_s(op["request_delete_range"]["key"]))
    return _range_request(op["request_range"])


def request_of(route: str, body: dict):
    kind = route.rsplit("/v3/", 1)[1]
    if kind == "kv/range":
        return _range_request(body)
    if kind == "kv/put":
        return Put(_s(body["key"]), _s(body.get("value")), _i(body.get("lease")))
    if kind == "kv/deleterange":
        return Delete(_s(body["key"]))
    if kind == "kv/txn":
        return Txn(tuple(_compare(c) for c in body.get("compare", [])),
                   tuple(_txn_op(o) for o in body.get("success", [])),
                   tuple(_txn_op(o) for o in body.get("failure", [])))
    if kind == "lease/grant":
        return LeaseGrant(_i(body.get("ID")), _i(body.get("TTL")))
    if kind == "lease/revoke":
        return LeaseRevoke(_i(body.get("ID")))
    if kind == "kv/compaction":
        return Compact(_i(body.get("revision")))
    raise ValueError(f"no request type for {route}")


def _kv(kv: dict) -> KeyValue:
    return KeyValue(_s(kv.get("key")), _s(kv.get("value")), _i(kv.get("mod_revision")),
                    _i(kv.get("create_revision")), _i(kv.get("version")))


def _range_response(a: dict, revision: int) -> RangeResponse:
    return RangeResponse(revision, tuple(_kv(kv) for kv in a.get("kvs", [])), _i(a.get("count")))


def response_of(request, answer: dict):
    rev = _i(answer.get("header", {}).get("revision"))
    if isinstance(request, (Get, Range)):
        return _range_response(answer, rev)
    if isinstance(request, Put):
        return PutResponse(rev)
    if isinstance(request, Delete):
        return DeleteResponse(rev, _i(answer.get("deleted")))
    if isinstance(request, Txn):
        results = []
        for r in answer.get("responses", []):
            if "response_range" in r:
                results.append(_range_response(r["response_range"], rev))
            elif "response_put" in r:
                results.append(PutResponse(rev))
            else:
                results.append(DeleteResponse(rev, _i(r.get("response_delete_range", {})
                                                      .get("deleted"))))
        return TxnResponse(rev, bool(answer.get("succeeded")), tuple(results))
    if isinstance(request, LeaseGrant):
        return LeaseGrantResponse(rev, _i(answer.get("ID")))
    if isinstance(request, LeaseRevoke):
        return LeaseRevokeResponse(rev)
    if isinstance(request, Compact):
        return CompactResponse(rev)
    raise ValueError(f"no response type for {request}")


def operation_of(op: RawOp) -> Operation:
    request = request_of(op.route, op.body)
    if op.return_ns is None:
        response = None
    elif op.status == 200:
        response = response_of(request, op.answer)
    else:
        a = op.answer or {}
        response = ErrorResponse(a.get("message") or a.get("error") or f"HTTP {op.status}")
    return Operation(op.client_id, op.call_ns, op.return_ns, request, response)


def _event(e: dict) -> Event:
    kv = e.get("kv", {})
    prev = e.get("prev_kv")
    return Event(e.get("type", "PUT"), _s(kv.get("key")), _s(kv.get("value")),
                 _i(kv.get("mod_revision")), _i(kv.get("create_revision")),
                 _i(kv.get("version")), _kv(prev) if prev else None)


def watch_response_of(received_ns: int, r: dict) -> WatchResponse:
    events = tuple(_event(e) for e in r.get("events", []))
    created, canceled = bool(r.get("created")), bool(r.get("canceled"))
    compact = _i(r.get("compact_revision"))
    # The gateway marks nothing as a progress notification: it is the answer that carries
    # neither events nor any of the other flags.
    progress = not events and not created and not canceled and not compact
    return WatchResponse(events, _i(r.get("header", {}).get("revision")), compact, canceled,
                         created, progress, received_ns)


def stream_of(s: RawStream) -> WatchStream:
    request = WatchRequest(PREFIX, PREFIX_END, s.start_revision, prev_kv=True,
                           progress_notify=True, member=s.member)
    return WatchStream(request, tuple(watch_response_of(t, r) for t, r in s.responses))


def history_of(ops: list[RawOp], streams: list[RawStream]) -> History:
    return History(tuple(operation_of(o) for o in ops if o.sent),
                   tuple(stream_of(s) for s in streams))
