"""One mapping between the client's message dataclasses and their three wire shapes.

Theory of operation: a message is a frozen dataclass (common/kv.py, common/cluster.py,
messages.py) whose fields are in proto order. It can be written as
- gateway JSON (etcd's grpc-gateway: proto field names, int64 as decimal strings, bytes as
  standard padded base64, enums as names, defaults omitted), for HTTP;
- a native map (attribute names, msgpack ints and bins, enums as numbers, defaults omitted),
  for ZeroMQ, as stages/api/native/codec.py reads and writes it;
- etcdctl's JSON (Go's encoding/json of the protobuf structs: proto field names, every integer
  a JSON number, bytes base64, enums numbers, zero scalars omitted, present messages kept).
Reading accepts the proto name, its lowerCamel form and the attribute name, int64 as a string
or a number, enums as names or numbers: whatever a server sends, one decoder reads it.
The plan of each class is computed once from its type hints. This module does no I/O.
"""
from __future__ import annotations

import base64
import dataclasses
from enum import IntEnum

from petcd.common import cluster, kv
from petcd.common.fields import field_specs
from . import messages as m

# Attribute -> proto field name, where they differ (per class: `raft_term` is `raftTerm` in
# StatusResponse but `raft_term` in ResponseHeader).
WIRE_NAMES: dict[type, dict[str, str]] = {
    cluster.Member: {"id": "ID", "peer_urls": "peerURLs", "client_urls": "clientURLs",
                     "is_learner": "isLearner"},
    **{cls: {"id": "ID", "peer_urls": "peerURLs", "is_learner": "isLearner"} for cls in (
        cluster.MemberAddRequest, cluster.MemberRemoveRequest, cluster.MemberUpdateRequest,
        cluster.MemberPromoteRequest)},
    cluster.AlarmRequest: {"member_id": "memberID"},
    cluster.AlarmMember: {"member_id": "memberID"},
    cluster.MoveLeaderRequest: {"target_id": "targetID"},
    cluster.StatusResponse: {"db_size": "dbSize", "raft_index": "raftIndex",
                             "raft_term": "raftTerm", "raft_applied_index": "raftAppliedIndex",
                             "db_size_in_use": "dbSizeInUse", "is_learner": "isLearner"},
    m.LeaseGrantRequest: {"ttl": "TTL", "id": "ID"},
    m.LeaseGrantResponse: {"ttl": "TTL", "id": "ID"},
    m.LeaseRevokeRequest: {"id": "ID"},
    m.LeaseKeepAliveRequest: {"id": "ID"},
    m.LeaseKeepAliveResponse: {"ttl": "TTL", "id": "ID"},
    m.LeaseTimeToLiveRequest: {"id": "ID"},
    m.LeaseTimeToLiveResponse: {"ttl": "TTL", "id": "ID", "granted_ttl": "grantedTTL"},
    m.LeaseStatus: {"id": "ID"},
}

# Integer fields that are 32-bit in the proto: numbers, not strings, in gateway JSON.
INT32_FIELDS: dict[type, set[str]] = {
    cluster.HashResponse: {"hash"}, cluster.HashKVResponse: {"hash"},
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    attr: str
    wire: str
    camel: str
    hint: type
    repeated: bool
    default: object


_PLANS: dict[type, tuple[_Field, ...]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def plan(cls: type) -> tuple[_Field, ...]:
    p = _PLANS.get(cls)
    if p is not None:
        return p
    names = WIRE_NAMES.get(cls, {})
    out = []
    for name, hint, repeated, default in field_specs(cls):
        wire = names.get(name, name)
        out.append(_Field(name, wire, _camel(wire), hint, repeated, default))
    _PLANS[cls] = p = tuple(out)
    return p


def _is_default(v: object, fld: _Field) -> bool:
    if v is None:
        return True
    if fld.repeated:
        return len(v) == 0
    if dataclasses.is_dataclass(v):
        return False
    return v == fld.default


def _out_scalar(v, fld: _Field, style: str, cls: type):
    if isinstance(v, bytes):
        return v if style == "native" else base64.b64encode(v).decode()
    if isinstance(v, IntEnum):
        return v.name if style == "gateway" else int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        return v
    if style == "gateway" and fld.attr not in INT32_FIELDS.get(cls, ()):
        return str(v)
    return v


def dump(msg: object, style: str) -> dict:
    """msg as a dict in `style`: "gateway", "native" or "etcdctl" (see the module doc)."""
    cls = type(msg)
    out = {}
    for fld in plan(cls):
        v = getattr(msg, fld.attr)
        if _is_default(v, fld):
            continue
        key = fld.attr if style == "native" else fld.wire
        if fld.repeated:
            out[key] = [dump(x, style) if dataclasses.is_dataclass(x)
                        else _out_scalar(x, fld, style, cls) for x in v]
        elif dataclasses.is_dataclass(v):
            out[key] = dump(v, style)
        else:
            out[key] = _out_scalar(v, fld, style, cls)
    return out


def _in_scalar(v, hint):
    if dataclasses.is_dataclass(hint):
        return load(hint, v if isinstance(v, dict) else {})
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        if isinstance(v, str):
            return hint[v]
        try:
            return hint(v)
        except ValueError:
            return v
    if hint is bytes:
        if isinstance(v, str):
            return base64.b64decode(v)
        return bytes(v)
    if hint is bool:
        return bool(v)
    if hint is int:
        return int(v)
    if hint is str:
        return v if isinstance(v, str) else v.decode()
    return v


def load(cls: type, doc: dict) -> object:
    """A dict from any of the three styles to an instance of cls; unknown keys are ignored."""
    kwargs = {}
    for fld in plan(cls):
        for key in (fld.wire, fld.attr, fld.camel):
            if key in doc:
                v = doc[key]
                break
        else:
            continue
        if v is None:
            continue
        if fld.repeated:
            kwargs[fld.attr] = tuple(_in_scalar(x, fld.hint) for x in v)
        else:
            kwargs[fld.attr] = _in_scalar(v, fld.hint)
    return cls(**kwargs)


__all__ = ["dump", "load", "plan", "WIRE_NAMES", "kv", "cluster"]
