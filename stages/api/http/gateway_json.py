"""The etcd 3.4 gateway's JSON codec: request bodies to typed requests, typed responses to bytes.

Theory of operation. etcd's HTTP API is grpc-gateway v1 in front of the gRPC services: a body is
read with Go's json.Decoder (first value only) and golang/protobuf v1.3 jsonpb, and a response is
written by jsonpb with `OrigName: true, EmitDefaults: false` (reference/etcd-api.md section 3).
This module is that codec and nothing else: no HTTP, no routes, no server state, so the HTTP
front end (and tests) call it with bytes and get values, and errors come out as EtcdError with
the exact text a client of the real gateway gets.

Each message type has a *plan*, built once from the dataclass and a few facts the Python type
cannot tell (uint64 vs int64, the Go enum type names, which fields are a oneof, JSON names such
as `TTL`). Encoding runs a generated function per type that builds a dict with only the non-
default fields (proto field order, int64 as strings, bytes as base64, enums as names) and hands
it to orjson. Decoding runs orjson first and a per-type field table; only bodies orjson rejects
(or that carry backslash escapes or non-integer numbers, whose raw text Go quotes in its errors)
go through the Go-exact slow parser in `gojson`.

Decoding rules (jsonpb v1.3 + encoding/json): proto or lowerCamel names, case-sensitive, the
lowerCamel one wins if both are present; unknown fields ignored; null = unset; an empty body is
`{}`; only the first JSON value of the body is read; int64 from a number or a string (the text
between the quotes is unmarshalled again as JSON); bools must be booleans; bytes are padded
standard base64 (or, as Go allows, an array of byte values); enums by name or by int32 number
(unknown numbers kept as ints). The first bad field in proto order decides the error, oneof
fields after the others. A null element in a list of messages makes the real gateway panic and
drop the connection: that is `GatewayPanic`, raised only when nothing else is wrong.

Must never: import the HTTP server, touch the store, or mutate a decoded value.
"""
from __future__ import annotations

import binascii
import dataclasses
import json
import re
import sys
import types
import typing
from enum import IntEnum

import orjson

from petcd.common import kv
from petcd.common.errors import Code, EtcdError
from petcd.stages.api.http import gojson
from petcd.stages.api.http.gojson import GoJSONError, GoNum, GoStr


class GatewayPanic(Exception):
    """The real gateway panics on this body (a null element in a list of messages): Go's
    net/http recovers and closes the connection without writing any response. The HTTP front
    end should do the same."""


# --------------------------------------------------------------------------------------------
# Plans

_INT_KINDS = {
    # kind: (Go type name, min, max)
    "int64": ("int64", -(1 << 63), (1 << 63) - 1),
    "uint64": ("uint64", 0, (1 << 64) - 1),
    "int32": ("int32", -(1 << 31), (1 << 31) - 1),
    "uint32": ("uint32", 0, (1 << 32) - 1),
}


@dataclasses.dataclass(slots=True)
class Field:
    attr: str           # the dataclass attribute
    name: str           # the proto field name: JSON output name and one accepted input name
    camel: str          # the lowerCamel JSON name (protoc's json_name), also accepted
    kind: str           # int64 uint64 int32 uint32 bool bytes string enum message
    repeated: bool = False
    oneof: bool = False
    message: type | None = None
    enum: type | None = None
    go_enum: str = ""   # e.g. etcdserverpb.RangeRequest_SortOrder
    conv: typing.Callable | None = None  # JSON value -> Python value (set when the plan is built)


@dataclasses.dataclass(slots=True)
class Plan:
    cls: type
    fields: list[Field]                # proto order; oneof fields last (jsonpb's decode order)
    by_name: dict[str, Field]          # both names -> field
    encode: typing.Callable = None     # message -> dict
    oneof_group: tuple[str, ...] = ()  # attrs of a oneof that must hold one value at most


_PLANS: dict[type, Plan] = {}


def camel_name(proto_name: str) -> str:
    """protoc's default json_name: drop each '_' and upper-case the letter after it."""
    out, up = [], False
    for ch in proto_name:
        if ch == "_":
            up = True
        elif up:
            out.append(ch.upper())
            up = False
        else:
            out.append(ch)
    return "".join(out)


def register(cls: type, *, names: dict[str, str] | None = None,
             kinds: dict[str, str] | None = None, enums: dict[str, str] | None = None,
             oneof: tuple[str, ...] = (), single_oneof: bool = False) -> Plan:
    """Build the plan for a message dataclass.

    names: attr -> proto field name where they differ (e.g. {"ttl": "TTL"}).
    kinds: attr -> uint64/int32/uint32 for ints that are not int64.
    enums: attr -> Go enum type name, for every enum field.
    oneof: attrs that form a oneof (decoded after the other fields, as jsonpb does).
    single_oneof: keep at most one of them set (RequestOp/ResponseOp).
    """
    names, kinds, enums = names or {}, kinds or {}, enums or {}
    hints = typing.get_type_hints(cls)
    fields: list[Field] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        name = names.get(f.name, f.name)
        fld = Field(attr=f.name, name=name, camel=camel_name(name), kind="",
                    oneof=f.name in oneof)
        args = typing.get_args(hint)
        origin = typing.get_origin(hint)
        if origin is tuple:
            fld.repeated = True
            hint = args[0]
            args = typing.get_args(hint)
            origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            hint = next(a for a in args if a is not type(None))
        if dataclasses.is_dataclass(hint):
            fld.kind, fld.message = "message", hint
        elif isinstance(hint, type) and issubclass(hint, IntEnum):
            fld.kind, fld.enum = "enum", hint
            fld.go_enum = enums[f.name]
        elif hint is bool:
            fld.kind = "bool"
        elif hint is bytes:
            fld.kind = "bytes"
        elif hint is str:
            fld.kind = "string"
        elif hint is int:
            fld.kind = kinds.get(f.name, "int64")
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {hint!r}")
        fields.append(fld)
    fields.sort(key=lambda x: x.oneof)  # stable: regular fields in order, then the oneof ones
    by_name: dict[str, Field] = {}
    for fld in fields:
        by_name[fld.name] = fld
        by_name[fld.camel] = fld
    plan = Plan(cls=cls, fields=fields, by_name=by_name,
                oneof_group=oneof if single_oneof else ())
    _PLANS[cls] = plan
    plan.encode = _compile_encoder(plan)
    for fld in fields:
        fld.conv = _make_conv(fld)
    return plan


def plan_of(cls: type) -> Plan:
    try:
        return _PLANS[cls]
    except KeyError:
        raise TypeError(f"no gateway JSON plan for {cls.__name__}") from None


# --------------------------------------------------------------------------------------------
# Encoding

def _b64(b: bytes) -> str:
    return binascii.b2a_base64(b, newline=False).decode("ascii")


def _compile_encoder(plan: Plan) -> typing.Callable:
    """Generate `enc(m) -> dict` for one message type (fields in proto order)."""
    # proto order for output: the dataclass order (oneof members sit where the proto has them)
    ordered = [next(f for f in plan.fields if f.attr == d.name)
               for d in dataclasses.fields(plan.cls)]
    env: dict[str, object] = {"_b64": _b64, "_enc": _encoder_of}
    lines = ["def enc(m):", "    d = {}"]
    for i, f in enumerate(ordered):
        key = repr(f.name)
        lines.append(f"    v = m.{f.attr}")
        if f.kind == "message":
            env[f"T{i}"] = f.message
            if f.repeated:
                lines.append(f"    if v: e = _enc(T{i}); d[{key}] = [e(x) for x in v]")
            else:
                lines.append(f"    if v is not None: d[{key}] = _enc(T{i})(v)")
            continue
        if f.kind in ("int64", "uint64"):
            item = "str(int(x))"
        elif f.kind in ("int32", "uint32"):
            item = "int(x)"
        elif f.kind == "bytes":
            item = "_b64(x)"
        elif f.kind == "bool":
            item = "True"
        elif f.kind == "string":
            item = "x"
        elif f.kind == "enum":
            # jsonpb writes an unknown enum number as a bare number
            env[f"N{i}"] = {int(e): e.name for e in f.enum}
            item = f"N{i}.get(x, int(x))"
        else:  # pragma: no cover
            raise TypeError(f.kind)
        if f.repeated:
            lines.append(f"    if v: d[{key}] = [{item} for x in v]")
        else:
            lines.append(f"    if v: x = v; d[{key}] = {item}")
    lines.append("    return d")
    exec("\n".join(lines), env)  # noqa: S102 - generated from the plan, no outside input
    return env["enc"]


def _encoder_of(cls: type) -> typing.Callable:
    return _PLANS[cls].encode


def to_dict(msg: object) -> dict:
    """The response as the gateway's JSON object (a dict in output key order)."""
    return _PLANS[type(msg)].encode(msg)


def _dumps(d: dict) -> bytes:
    try:
        return orjson.dumps(d)
    except TypeError:
        # orjson stops at 254 levels; a txn nested 128 deep is 384 (valid for etcd)
        return json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode()


def encode(msg: object) -> bytes:
    """A unary response body: compact JSON, proto names, defaults omitted, no newline."""
    return _dumps(_PLANS[type(msg)].encode(msg))


def encode_stream_result(msg: object, newline: bool = True) -> bytes:
    """One message of a server stream: `{"result":<msg>}` plus a newline (HTTP), or without it
    (a WebSocket frame)."""
    body = b'{"result":' + encode(msg) + b"}"
    return body + b"\n" if newline else body


# http.StatusText for the statuses errors.HTTP_STATUS can produce
HTTP_STATUS_TEXT = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    412: "Precondition Failed", 429: "Too Many Requests", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def encode_error(err: EtcdError) -> tuple[int, bytes]:
    """A unary error: (HTTP status, `{"error":m,"message":m,"code":n}`)."""
    return err.http_status, orjson.dumps(
        {"error": err.message, "message": err.message, "code": int(err.code)})


def encode_stream_error(err: EtcdError) -> tuple[int, bytes]:
    """An error on a stream: (HTTP status, if nothing was written yet, and the body
    `{"error":{"grpc_code","http_code","message","http_status"}}`, no newline)."""
    status = err.http_status
    return status, orjson.dumps({"error": {
        "grpc_code": int(err.code), "http_code": status, "message": err.message,
        "http_status": HTTP_STATUS_TEXT.get(status, "")}})


# --------------------------------------------------------------------------------------------
# Decoding

class _NeedRaw(Exception):
    """The fast path met a value whose Go error needs its raw text (a non-integer number)."""


def _bad(msg: str) -> EtcdError:
    return EtcdError(Code.INVALID_ARGUMENT, msg)


def _type_err(what: str, gotype: str) -> EtcdError:
    return _bad(f"json: cannot unmarshal {what} into Go value of type {gotype}")


def _json_kind(v: object) -> str:
    """encoding/json's name for a JSON value's kind in UnmarshalTypeError."""
    t = type(v)
    if t is str or t is GoStr:
        return "string"
    if t is bool:
        return "bool"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    return "number"


_INT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")


def _int_from_literal(text: str, gotype: str, lo: int, hi: int) -> int:
    """literalStore for a number into an int kind: strconv.ParseInt/ParseUint + overflow."""
    ok = _INT_TEXT.match(text) is not None and not (lo == 0 and text.startswith("-"))
    if ok:
        n = int(text)
        if lo <= n <= hi:
            return n
    raise _type_err("number " + text, gotype)


def _unmarshal_int_text(raw: bytes, gotype: str, lo: int, hi: int) -> int:
    """jsonpb strips the quotes of an integer sent as a string and json.Unmarshals the rest."""
    try:
        v = gojson.parse_unmarshal(raw)
    except GoJSONError as e:
        raise _bad(str(e)) from None
    if v is None:
        return 0  # null leaves the field alone
    if type(v) is GoNum:
        return _int_from_literal(v.text, gotype, lo, hi)
    raise _type_err(_json_kind(v), gotype)


def _int_conv(kind: str, gotype: str | None = None):
    name, lo, hi = _INT_KINDS[kind]
    gotype = gotype or name

    def conv(v, st):
        t = type(v)
        if t is int:
            if lo <= v <= hi:
                return v
            raise _type_err(f"number {v}", gotype)
        if t is str:  # fast path: no backslash in the body, so the raw text is the value
            if _INT_TEXT.match(v):
                n = int(v)
                if lo <= n <= hi and not (lo == 0 and v[0] == "-"):
                    return n
            return _unmarshal_int_text(v.encode(), gotype, lo, hi)
        if t is GoStr:
            return _unmarshal_int_text(v.raw, gotype, lo, hi)
        if t is GoNum:
            return _int_from_literal(v.text, gotype, lo, hi)
        if t is float:
            raise _NeedRaw()
        raise _type_err(_json_kind(v), gotype)
    return conv


def _enum_conv(f: Field):
    by_name = {e.name: e for e in f.enum}
    by_num = {int(e): e for e in f.enum}
    num = _int_conv("int32", f.go_enum)
    unknown = f"unknown value %s for enum {f.go_enum}"

    def conv(v, st):
        t = type(v)
        if t is str:  # fast path: no backslash in the body, so the raw text is the value
            e = by_name.get(v)
            if e is None:
                raise _bad(unknown % gojson.quote(v.encode()))
            return e
        if t is GoStr:
            # jsonpb looks the raw text between the quotes up, without unquoting it
            raw = v.raw
            e = by_name.get(raw.decode("utf-8", "replace")) if b"\\" not in raw else None
            if e is None:
                raise _bad(unknown % gojson.quote(raw))
            return e
        n = num(v, st)
        return by_num.get(n, n)
    return conv


def _bool_conv(v, st):
    if type(v) is bool:
        return v
    raise _type_err(_json_kind(v), "bool")


def _string_conv(v, st):
    t = type(v)
    if t is str:
        return v
    if t is GoStr:
        return str(v)
    raise _type_err(_json_kind(v), "string")


def _byte_elem(x) -> int:
    """One element of a JSON array decoded into []byte by encoding/json."""
    t = type(x)
    if t is int:
        if 0 <= x <= 255:
            return x
        raise _type_err(f"number {x}", "uint8")
    if t is GoNum:
        return _int_from_literal(x.text, "uint8", 0, 255)
    if t is float:
        raise _NeedRaw()
    if x is None:
        return 0
    raise _type_err(_json_kind(x), "uint8")


def b64_fast(s: str) -> bytes | None:
    """binascii's strict decoder where it provably agrees with Go's StdEncoding (whole
    quanta, padding only in the last two places: binascii takes `Zm9v====`, which Go
    refuses), else None."""
    if len(s) & 3 or "=" in s[:-2]:  # binascii takes padding runs past the quantum
        return None
    try:
        return binascii.a2b_base64(s, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _bytes_conv(v, st):
    t = type(v)
    if t is str:
        b = b64_fast(v)
        return b if b is not None else _go_b64(v)
    if t is GoStr:
        return _go_b64(v)
    if t is list:  # encoding/json fills a []byte from an array of numbers too
        return bytes([_byte_elem(x) for x in v])
    raise _type_err(_json_kind(v), "[]uint8")


def _go_b64(s: str) -> bytes:
    try:
        return gojson.b64decode(s.encode("utf-8"))
    except GoJSONError as e:
        raise _bad(str(e)) from None


_MAP_TYPE = "map[string]json.RawMessage"
_LIST_TYPE = "[]json.RawMessage"


def _message_conv(cls: type):
    def conv(v, st):
        if type(v) is dict:
            return _decode_obj(_PLANS[cls], v, st)
        raise _type_err(_json_kind(v), _MAP_TYPE)
    return conv


def _make_conv(f: Field):
    if f.kind == "message":
        one = _message_conv(f.message)
    elif f.kind == "enum":
        one = _enum_conv(f)
    elif f.kind == "bool":
        one = _bool_conv
    elif f.kind == "bytes":
        one = _bytes_conv
    elif f.kind == "string":
        one = _string_conv
    else:
        one = _int_conv(f.kind)
    if not f.repeated:
        return one
    is_msg = f.kind == "message"
    zero = {"bool": False, "bytes": b"", "string": "", "message": None}.get(f.kind, 0)
    if f.kind == "enum":
        zero = f.enum(0)

    def conv_list(v, st):
        if type(v) is not list:
            if f.kind == "enum" and type(v) in (str, GoStr):
                # jsonpb reads a quoted value of an enum field as a name first, whatever the
                # field's shape: an unknown name is that error, a known one then fails on
                # the slice it cannot be stored in.
                one(v, st)
                raise _bad(f'invalid target "slice" for enum {f.go_enum}')
            raise _type_err(_json_kind(v), _LIST_TYPE)
        out = []
        for x in v:
            if x is None:
                if is_msg:
                    st[0] = True  # a nil message in a repeated field: the gateway panics later
                    continue
                out.append(zero)  # encoding/json leaves a scalar alone on null
                continue
            out.append(one(x, st))
        return tuple(out)
    return conv_list


def _decode_obj(plan: Plan, obj: dict, st: list) -> object:
    by_name = plan.by_name
    kw = {}
    for k, v in obj.items():
        f = by_name.get(k)
        if f is None or v is None:
            continue
        if k == f.name and f.camel in obj and f.camel != k:
            continue  # jsonpb prefers the lowerCamel spelling when both are present
        try:
            kw[f.attr] = f.conv(v, st)
        except EtcdError:
            _earlier_error(plan, obj, st, f, kw)
            raise
    if plan.oneof_group and len(kw) > 1:
        keep = next(a for a in plan.oneof_group if a in kw)
        kw = {keep: kw[keep]}
    return plan.cls(**kw)


def _earlier_error(plan: Plan, obj: dict, st: list, failed: Field, done: dict) -> None:
    """jsonpb reports the first bad field in its (proto) order: raise the error of a field
    before `failed` that was not decoded yet, if any. (The failed field's own error is already
    the right one for its subtree, so this stays linear in the body.)"""
    for f in plan.fields:
        if f is failed:
            return
        if f.attr in done:
            continue
        v = obj[f.camel] if f.camel in obj else obj.get(f.name)
        if v is not None:
            f.conv(v, st)


# Txns nest in txns, and Go reads JSON up to 10000 levels deep (3333 nested txns, five Python
# frames each to decode). Bodies that deep are refused later (too many ops) unless a decode
# error or a panic comes first, so we must still read them to the end, as etcd does.
_DEEP_RECURSION_LIMIT = 40000


def decode(cls: type, body: bytes) -> object:
    """A request body to a request value of type cls. Raises EtcdError(INVALID_ARGUMENT) with
    Go's text for a bad body, or GatewayPanic (see its doc)."""
    try:
        return _decode(cls, body)
    except RecursionError:
        pass
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _DEEP_RECURSION_LIMIT))
    try:
        return _decode(cls, body)
    finally:
        sys.setrecursionlimit(old)


def _decode(cls: type, body: bytes) -> object:
    plan = _PLANS[cls]
    obj = _MISSING
    # orjson reads -0 as 0, which Go refuses for an unsigned field: such bodies (no base64
    # text has a '-') take the path that keeps number literals as written.
    if b"\\" not in body and b"-0" not in body:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    st = [False]
    if obj is not _MISSING:
        try:
            msg = _decode_top(plan, obj, st)
        except _NeedRaw:
            msg = _MISSING
        if msg is not _MISSING:
            if st[0]:
                raise GatewayPanic("nil message in a repeated field")
            return msg
    if not body.strip(b" \t\r\n"):
        return cls()
    try:
        obj = gojson.parse_stream(body)
    except GoJSONError as e:
        raise _bad(str(e)) from None
    if obj is gojson.EOF:
        return cls()
    st = [False]
    msg = _decode_top(plan, obj, st)
    if st[0]:
        raise GatewayPanic("nil message in a repeated field")
    return msg


_MISSING = object()


def _decode_top(plan: Plan, obj: object, st: list) -> object:
    if type(obj) is dict:
        return _decode_obj(plan, obj, st)
    if obj is None:
        return plan.cls()
    raise _type_err(_json_kind(obj), _MAP_TYPE)


# --------------------------------------------------------------------------------------------
# The KV service's messages (reference/etcd-api.md 1.1 and 1.8)

_U64 = "uint64"
register(kv.ResponseHeader, kinds={"cluster_id": _U64, "member_id": _U64, "raft_term": _U64})
register(kv.KeyValue)
register(kv.Event, enums={"type": "mvccpb.Event_EventType"})
register(kv.RangeRequest, enums={"sort_order": "etcdserverpb.RangeRequest_SortOrder",
                                 "sort_target": "etcdserverpb.RangeRequest_SortTarget"})
register(kv.RangeResponse)
register(kv.PutRequest)
register(kv.PutResponse)
register(kv.DeleteRangeRequest)
register(kv.DeleteRangeResponse)
register(kv.Compare, enums={"result": "etcdserverpb.Compare_CompareResult",
                            "target": "etcdserverpb.Compare_CompareTarget"},
         oneof=("version", "create_revision", "mod_revision", "value", "lease"))
register(kv.RequestOp, oneof=("request_range", "request_put", "request_delete_range",
                              "request_txn"), single_oneof=True)
register(kv.TxnRequest)
register(kv.ResponseOp, oneof=("response_range", "response_put", "response_delete_range",
                               "response_txn"), single_oneof=True)
register(kv.TxnResponse)
register(kv.CompactionRequest)
register(kv.CompactionResponse)
# The Watch service (reference/etcd-api.md 1.2); its gateway route is a bidi stream (http.py)
register(kv.WatchCreateRequest,
         enums={"filters": "etcdserverpb.WatchCreateRequest_FilterType"})
register(kv.WatchCancelRequest)
register(kv.WatchProgressRequest)
register(kv.WatchRequest, oneof=("create_request", "cancel_request", "progress_request"),
         single_oneof=True)
register(kv.WatchResponse)

# The KV service's gateway routes: path (after /v3/) -> (RPC name, request type)
KV_ROUTES: dict[str, tuple[str, type]] = {
    "kv/range": ("Range", kv.RangeRequest),
    "kv/put": ("Put", kv.PutRequest),
    "kv/deleterange": ("DeleteRange", kv.DeleteRangeRequest),
    "kv/txn": ("Txn", kv.TxnRequest),
    "kv/compaction": ("Compact", kv.CompactionRequest),
}


def decode_range(body: bytes) -> kv.RangeRequest:
    return decode(kv.RangeRequest, body)


def decode_put(body: bytes) -> kv.PutRequest:
    return decode(kv.PutRequest, body)


def decode_delete_range(body: bytes) -> kv.DeleteRangeRequest:
    return decode(kv.DeleteRangeRequest, body)


def decode_txn(body: bytes) -> kv.TxnRequest:
    return decode(kv.TxnRequest, body)


def decode_watch_request(raw: bytes) -> kv.WatchRequest:
    """One request object of a watch stream's body (split off by json_stream)."""
    return decode(kv.WatchRequest, raw)


def decode_compaction(body: bytes) -> kv.CompactionRequest:
    return decode(kv.CompactionRequest, body)
