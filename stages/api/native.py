"""The native (ZeroMQ) wire format: msgpack maps with etcd's proto field names.

A request frame is `{"id": int, "method": str, "request": {...}}`; the answer is
`{"id": int, "response": {...}}` or `{"id": int, "error": {"code": int, "message": str}}`.
Frames with a `stream` key instead of an `id` belong to a stream (native_stream.py).
Inside, every message is a map keyed by the proto field names (snake case, as in common/kv.py:
`range_end`, `create_revision`, `prev_kv`...), bytes are msgpack bin, integers are msgpack
integers (no strings for int64), enums are their numbers (names are accepted on input), and
fields at their default value are left out, as the gateway does. Unknown fields are ignored.

Conversion plans are built once per dataclass from its type hints.
"""
from __future__ import annotations

import dataclasses
from enum import IntEnum

import msgpack

from petcd.common.errors import Code, EtcdError
from petcd.common.fields import field_specs


class NativeError(EtcdError):
    def __init__(self, message: str) -> None:
        super().__init__(Code.INVALID_ARGUMENT, message)


_PLANS: dict[type, list] = {}


def _plan(cls: type) -> list:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    plan = field_specs(cls)
    _PLANS[cls] = plan
    return plan


def to_map(msg: object) -> dict:
    out = {}
    for name, hint, repeated, default in _plan(type(msg)):
        v = getattr(msg, name)
        if repeated:
            if v:
                out[name] = [to_map(x) if dataclasses.is_dataclass(x) else x for x in v]
        elif v is None or (not dataclasses.is_dataclass(v) and v == default):
            continue
        else:
            out[name] = to_map(v) if dataclasses.is_dataclass(v) else (
                int(v) if isinstance(v, IntEnum) else v)
    return out


def _convert(value, hint, where: str):
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise NativeError(f"{where}: expected a map")
        return from_map(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        if isinstance(value, str):
            try:
                return hint[value]
            except KeyError:
                raise NativeError(f"{where}: unknown value {value!r}") from None
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return hint(value)
            except ValueError:
                return value  # unknown numbers pass, as the gateway lets them
        raise NativeError(f"{where}: expected an enum name or number")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise NativeError(f"{where}: expected a boolean")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise NativeError(f"{where}: expected an integer")
    if hint is bytes:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            return value.encode()
        raise NativeError(f"{where}: expected bytes")
    if hint is str:
        if isinstance(value, str):
            return value
        raise NativeError(f"{where}: expected a string")
    raise NativeError(f"{where}: unsupported field type")


def from_map(cls: type, doc: dict, where: str = "") -> object:
    kwargs = {}
    for name, hint, repeated, _ in _plan(cls):
        if name not in doc or doc[name] is None:
            continue
        v = doc[name]
        at = f"{where}.{name}" if where else name
        if repeated:
            if not isinstance(v, (list, tuple)):
                raise NativeError(f"{at}: expected a list")
            kwargs[name] = tuple(_convert(x, hint, at) for x in v)
        else:
            kwargs[name] = _convert(v, hint, at)
    return cls(**kwargs)


def unpack(frame: bytes) -> object:
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as e:
        raise NativeError(f"malformed msgpack frame: {e}") from None


def parse_call(doc: object) -> tuple[int, str, dict]:
    """A unary call's (id, method, request map); stream frames are native_stream.py's."""
    if not isinstance(doc, dict):
        raise NativeError("a request must be a map with id, method and request")
    rid, method, req = doc.get("id"), doc.get("method"), doc.get("request", {})
    if not isinstance(rid, int) or isinstance(rid, bool):
        raise NativeError("request id must be an integer")
    if not isinstance(method, str):
        raise NativeError("method must be a string")
    if req is None:
        req = {}
    if not isinstance(req, dict):
        raise NativeError("request must be a map")
    return rid, method, req


def request_id_of(doc: object) -> int:
    """Best effort, for answering a call that failed to decode."""
    rid = doc.get("id") if isinstance(doc, dict) else None
    return rid if isinstance(rid, int) and not isinstance(rid, bool) else 0


def encode_response(rid: int, msg: object) -> bytes:
    return msgpack.packb({"id": rid, "response": to_map(msg)}, use_bin_type=True)


def encode_error(rid: int, err: EtcdError) -> bytes:
    return msgpack.packb({"id": rid, "error": {"code": int(err.code), "message": err.message}},
                         use_bin_type=True)
