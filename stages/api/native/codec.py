"""The native (ZeroMQ) wire format: msgpack maps with etcd's proto field names.

A request frame is `{"id": int, "method": str, "request": {...}}`; the answer is
`{"id": int, "response": {...}}` or `{"id": int, "error": {"code": int, "message": str}}`.
Frames with a `stream` key instead of an `id` belong to a stream (stream.py).
Inside, every message is a map keyed by the proto field names (snake case, as in common/kv.py:
`range_end`, `create_revision`, `prev_kv`...), bytes are msgpack bin, integers are msgpack
integers (no strings for int64), enums are their numbers (names are accepted on input), and
fields at their default value are left out, as the gateway does. Unknown fields are ignored.

Conversion plans are built once per dataclass from its type hints (encoders are generated
from them, as gateway_json does).

Nesting is bounded where it is decoded (nesting.py): msgpack itself stops at 1024 nested maps
and arrays, and from_map at `max_depth` nested messages. Only txns nest without end, and a
request nested past these bounds can never pass validation, so both refuse it with the
validator's own answer (TooDeep: etcd's "too many operations in txn request") before they
recurse any deeper. Must never: recurse on a client's input without a depth bound.
"""
from __future__ import annotations

import dataclasses
from enum import IntEnum

import msgpack

from petcd.common.errors import Code, ErrTooManyOps, EtcdError
from petcd.common.fields import field_specs
from .. import nesting
from ..validate import DEFAULT_MAX_TXN_OPS


class NativeError(EtcdError):
    def __init__(self, message: str) -> None:
        super().__init__(Code.INVALID_ARGUMENT, message)


class TooDeep(NativeError):
    """A request nested too deeply to ever pass validation: the validator's answer."""

    def __init__(self) -> None:
        super().__init__(ErrTooManyOps.message)


DEFAULT_MAX_DEPTH = nesting.max_message_depth(DEFAULT_MAX_TXN_OPS)


_PLANS: dict[type, list] = {}


def _plan(cls: type) -> list:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    plan = field_specs(cls)
    _PLANS[cls] = plan
    return plan


_ENCODERS: dict[type, object] = {}


def to_map(msg: object) -> dict:
    enc = _ENCODERS.get(type(msg))
    if enc is None:
        enc = _ENCODERS[type(msg)] = _compile_to_map(type(msg))
    return enc(msg)


def _compile_to_map(cls: type):
    """Generate `enc(m) -> dict` for one message type: a straight line per field instead of a
    loop over the plan (watch fan-out encodes every response once per watcher's stream)."""
    env: dict[str, object] = {"to_map": to_map, "is_dc": dataclasses.is_dataclass}
    lines = ["def enc(m):", "    d = {}"]
    for i, (name, hint, repeated, default) in enumerate(_plan(cls)):
        key = repr(name)
        lines.append(f"    v = m.{name}")
        if repeated:
            item = "to_map(x) if is_dc(x) else x"
            lines.append(f"    if v: d[{key}] = [{item} for x in v]")
        elif dataclasses.is_dataclass(hint):
            lines.append(f"    if v is not None: d[{key}] = to_map(v)")
        else:
            env[f"D{i}"] = default
            value = "int(v)" if isinstance(hint, type) and issubclass(hint, IntEnum) else "v"
            lines.append(f"    if v is not None and v != D{i}: d[{key}] = {value}")
    lines.append("    return d")
    exec("\n".join(lines), env)  # noqa: S102 - generated from the type hints, no outside input
    return env["enc"]


def _convert(value, hint, where: str, depth_left: int):
    """depth_left: messages that may still nest below the one holding the value."""
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise NativeError(f"{where}: expected a map")
        if depth_left <= 0:
            raise TooDeep()
        return from_map(hint, value, where, depth_left)
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


_DECODERS: dict[type, object] = {}

# The exact wire types that need no conversion: the generated decoder takes them as they are
# and leaves everything else (coercions, enums, nested messages, errors) to _convert.
_AS_IS = {bytes: "bytes", int: "int", str: "str"}


def from_map(cls: type, doc: dict, where: str = "",
             max_depth: int = DEFAULT_MAX_DEPTH) -> object:
    """max_depth: how deeply messages may nest, this one included (nesting.max_message_depth
    of the member's --max-txn-ops); deeper is TooDeep."""
    dec = _DECODERS.get(cls)
    if dec is None:
        dec = _DECODERS[cls] = _compile_from_map(cls)
    return dec(doc, where, max_depth - 1)


def _compile_from_map(cls: type):
    """Generate `dec(doc, where) -> cls` for one message type: a straight line per field, with
    a fast path for values that already have the field's exact type (every request decodes
    through here)."""
    env: dict[str, object] = {"cls": cls, "conv": _convert, "at": _at, "Err": NativeError}
    lines = ["def dec(doc, where, left):", "    kw = {}"]
    for i, (name, hint, repeated, _) in enumerate(_plan(cls)):
        key = repr(name)
        env[f"H{i}"] = hint
        lines.append(f"    v = doc.get({key})")
        lines.append("    if v is not None:")
        if repeated:
            lines += [f"        w = at(where, {key})",
                      "        if not isinstance(v, (list, tuple)):",
                      "            raise Err(f'{w}: expected a list')",
                      f"        kw[{key}] = tuple([conv(x, H{i}, w, left) for x in v])"]
        elif hint in _AS_IS:
            lines += [f"        if type(v) is not {_AS_IS[hint]}:",
                      f"            v = conv(v, H{i}, at(where, {key}), left)",
                      f"        kw[{key}] = v"]
        elif hint is bool:
            lines += ["        if v is not True and v is not False:",
                      f"            v = conv(v, H{i}, at(where, {key}), left)",
                      f"        kw[{key}] = v"]
        else:
            lines.append(f"        kw[{key}] = conv(v, H{i}, at(where, {key}), left)")
    lines.append("    return cls(**kw)")
    exec("\n".join(lines), env)  # noqa: S102 - generated from the type hints, no outside input
    return env["dec"]


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def unpack(frame: bytes) -> object:
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except msgpack.StackError:
        # Past msgpack's 1024 levels; only a txn nests, and one that deep never passes.
        raise TooDeep() from None
    except Exception as e:
        raise NativeError(f"malformed msgpack frame: {e}") from None


def parse_call(doc: object) -> tuple[int, str, dict]:
    """A unary call's (id, method, request map); stream frames are stream.py's."""
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
