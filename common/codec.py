"""The one codec for values that cross a process boundary: msgpack with typed values.

Theory of operation: every registered frozen dataclass travels as a one-entry msgpack map from
its type code to the list of its fields in declaration order; nested values (an Entry inside a
Message) nest the same way. Decoding rebuilds the same dataclasses,
with tuples for sequences. No pickle, no raw dicts on the wire (DESIGN.md section 1).

Versioning: every frame starts with one format byte, so that a future change of the layout is
detected instead of misread. Type codes are part of the format: never reuse or renumber one.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import msgpack

from .fields import fields_getter

FORMAT_VERSION = 1
_VERSION_BYTE = bytes([FORMAT_VERSION])

_BY_TYPE: dict[type, tuple[int, Callable[[Any], tuple]]] = {}
_BY_CODE: dict[int, type] = {}


class CodecError(ValueError):
    """A frame that is not a valid petcd value (wrong version, garbage, unknown type)."""


def register(code: int, cls: type) -> type:
    if not 0 <= code <= 127:
        raise ValueError("type codes are 0..127 (one msgpack byte)")
    if code in _BY_CODE and _BY_CODE[code] is not cls:
        raise ValueError(f"type code {code} is taken by {_BY_CODE[code].__name__}")
    # Fields are read in C (encoding is a third of a busy stage's CPU).
    _BY_TYPE[cls] = (code, fields_getter(tuple(f.name for f in dataclasses.fields(cls))))
    _BY_CODE[code] = cls
    return cls


def _default(obj: Any) -> dict:
    # A dataclass becomes a one-entry map {type code: [fields]}. Our types hold no maps of
    # their own, so on decode every map is a typed value. Returning a plain value (rather than
    # packing it here) lets one Packer walk the whole tree in a single pass.
    spec = _BY_TYPE.get(type(obj))
    if spec is None:
        raise TypeError(f"cannot encode {type(obj).__name__}: not a registered type")
    code, fields = spec
    return {code: fields(obj)}


def _object_hook(m: dict) -> Any:
    if len(m) != 1:
        raise CodecError("a map on the wire must be one typed value")
    ((code, fields),) = m.items()
    cls = _BY_CODE.get(code)
    if cls is None:
        raise CodecError(f"unknown type code {code!r}")
    return cls(*fields)


# One Packer reused: encoding is not reentrant (stage processes are single-threaded) and a
# reused Packer is several times faster than packb with a default hook.
_packer = msgpack.Packer(default=_default, use_bin_type=True)


def encode(value: Any) -> bytes:
    return _VERSION_BYTE + _packer.pack(value)


_ONE_ENTRY_MAP = 0x81


def code_of(cls: type) -> int:
    return _BY_TYPE[cls][0]


def type_code(frame: bytes) -> int | None:
    """The type code of the value a frame holds, read without decoding it (None if the frame
    does not start like a petcd value). Lets a stage pass frames on without decoding them."""
    if len(frame) < 3 or frame[0] != FORMAT_VERSION or frame[1] != _ONE_ENTRY_MAP:
        return None
    code = frame[2]
    return code if code < 128 else None   # codes are positive fixints on the wire


def decode(frame: bytes) -> Any:
    if not frame or frame[0] != FORMAT_VERSION:
        raise CodecError("not a petcd frame of format version "
                         f"{FORMAT_VERSION} (first byte {bytes(frame[:1])!r})")
    try:
        return msgpack.unpackb(memoryview(frame)[1:], object_hook=_object_hook,
                               use_list=False, raw=False, strict_map_key=False)
    except CodecError:
        raise
    except Exception as e:  # msgpack and constructors raise many types on garbage
        raise CodecError(f"undecodable frame: {e}") from None


def _register_all() -> None:
    from . import auth, cluster, kv, lease, types
    for code, cls in enumerate((
            types.Entry, types.HardState, types.ConfState, types.ConfChange,
            types.SnapshotMetadata, types.Snapshot, types.Message), start=1):
        register(code, cls)
    for code, cls in enumerate((
            kv.ResponseHeader, kv.KeyValue, kv.Event, kv.RangeRequest, kv.RangeResponse,
            kv.PutRequest, kv.PutResponse, kv.DeleteRangeRequest, kv.DeleteRangeResponse,
            kv.Compare, kv.RequestOp, kv.TxnRequest, kv.ResponseOp, kv.TxnResponse,
            kv.CompactionRequest, kv.CompactionResponse), start=20):
        register(code, cls)
    for code, cls in enumerate((
            cluster.AlarmRequest, cluster.AlarmMember, cluster.AlarmResponse), start=40):
        register(code, cls)
    for code, cls in enumerate(lease.LEASE_TYPES, start=80):
        register(code, cls)
    register(43, cluster.DefragmentResponse)
    for code, cls in enumerate(auth.AUTH_TYPES, start=95):
        register(code, cls)


_register_all()
