"""protobuf messages to the service layer's dataclasses and back, derived, not written out.

Theory of operation. The wire schema has one declaration, etcd's .proto (common/proto/); the
service layer speaks the frozen dataclasses of common/kv.py, cluster.py and lease.py, whose
field names are the proto's. So a converter is built once per pair of types by walking the
dataclass's fields and finding each one's proto field in the message descriptor: by its name,
or by the name with case and underscores ignored (`ttl` is `TTL`, `peer_urls` is `peerURLs`).
No field list is written here; a dataclass field without a proto field is a build error.

Decoding reads every field (an unset oneof member reads as its zero, which is what etcd does
with a Compare whose target does not match its union), keeps unknown enum numbers as ints (proto3
enums are open), and turns unset message fields into None and repeated fields into tuples.
Encoding passes only fields that differ from the proto default, so an answer is as small as
etcd's.

Must never: hold state between calls, or accept a dataclass whose fields the proto lacks.
"""
from __future__ import annotations

import dataclasses
import typing
from enum import IntEnum
from typing import Any, Callable

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message_factory import GetMessageClass


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _field_types(cls: type) -> dict[str, tuple[type | None, type | None]]:
    """attr -> (dataclass type of a message field, IntEnum type of an enum field)."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple:
            hint = args[0]
            args = typing.get_args(hint)
        if args:  # X | None
            hint = next(a for a in args if a is not type(None))
        msg = hint if dataclasses.is_dataclass(hint) else None
        enum = hint if isinstance(hint, type) and issubclass(hint, IntEnum) else None
        out[name] = (msg, enum)
    return out


def _pairs(cls: type, desc: Descriptor) -> list[tuple[str, FieldDescriptor]]:
    by_norm = {_norm(f.name): f for f in desc.fields}
    pairs = []
    for f in dataclasses.fields(cls):
        fd = desc.fields_by_name.get(f.name) or by_norm.get(_norm(f.name))
        if fd is None:
            raise TypeError(f"{cls.__name__}.{f.name} has no field in {desc.full_name}")
        pairs.append((f.name, fd))
    return pairs


def _enum_of(enum: type) -> Callable[[int], Any]:
    members = {m.value: m for m in enum}
    return lambda n: members.get(n, n)


_DECODERS: dict[tuple[type, str], Callable] = {}
_ENCODERS: dict[tuple[type, str], Callable] = {}


def decoder(cls: type, desc: Descriptor) -> Callable[[Any], Any]:
    """A function from a message of `desc` to a `cls` value."""
    key = (cls, desc.full_name)
    fn = _DECODERS.get(key)
    if fn is not None:
        return fn
    steps: list = []

    def decode(pb):
        args = []
        for name, conv, presence in steps:
            if presence is not None and not pb.HasField(presence):
                args.append(None)
                continue
            v = getattr(pb, name)
            args.append(v if conv is None else conv(v))
        return cls(*args)

    # Registered before its steps are built: messages nest (a TxnRequest holds RequestOps that
    # hold TxnRequests).
    _DECODERS[key] = decode
    types_ = _field_types(cls)
    for attr, fd in _pairs(cls, desc):
        msg, enum = types_[attr]
        repeated = fd.is_repeated
        if msg is not None:
            sub = decoder(msg, fd.message_type)
            if repeated:
                steps.append((fd.name, lambda v, sub=sub: tuple(map(sub, v)), None))
            else:
                steps.append((fd.name, sub, fd.name))  # None when unset
        elif enum is not None:
            conv = _enum_of(enum)
            steps.append((fd.name, (lambda v, c=conv: tuple(map(c, v))) if repeated else conv,
                          None))
        elif repeated:
            steps.append((fd.name, tuple, None))
        else:
            steps.append((fd.name, None, None))

    return decode


def encoder(cls: type, pb_cls: type) -> Callable[[Any], Any]:
    """A function from a `cls` value to a message of `pb_cls`."""
    key = (cls, pb_cls.DESCRIPTOR.full_name)
    fn = _ENCODERS.get(key)
    if fn is not None:
        return fn
    steps: list = []

    def encode(value):
        kwargs = {}
        for attr, name, conv in steps:
            v = getattr(value, attr)
            if not v:  # the proto default (0, "", b"", empty, unset): left out
                continue
            kwargs[name] = v if conv is None else conv(v)
        return pb_cls(**kwargs)

    _ENCODERS[key] = encode  # before its steps, as in decoder()
    types_ = _field_types(cls)
    for attr, fd in _pairs(cls, pb_cls.DESCRIPTOR):
        msg, enum = types_[attr]
        repeated = fd.is_repeated
        conv = None
        if msg is not None:
            sub = encoder(msg, GetMessageClass(fd.message_type))
            conv = (lambda v, sub=sub: [sub(x) for x in v]) if repeated else sub
        elif repeated:
            conv = list
        steps.append((attr, fd.name, conv))
    return encode

