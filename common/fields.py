"""A message dataclass's fields as codecs need them: (name, element type, repeated, default).

Every codec that maps our frozen message dataclasses to a wire format (the native msgpack
maps, the client's converter) reads the same facts from the type hints: `tuple[X, ...]` is a
repeated X, `X | None` is an optional X.
"""
from __future__ import annotations

import dataclasses
import operator
import types
import typing
from typing import Any, Callable


def field_specs(cls: type) -> list[tuple[str, object, bool, object]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint, repeated = hints[f.name], False
        if typing.get_origin(hint) is tuple:
            hint, repeated = typing.get_args(hint)[0], True
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append((f.name, hint, repeated, default))
    return out


def fields_getter(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    """`get(obj) -> tuple` of the named attributes, read in one C call (operator.attrgetter,
    which returns a bare value for one name, so that case is wrapped)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()
