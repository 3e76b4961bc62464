"""Messages the client needs beyond common/kv.py, common/cluster.py and common/lease.py: the
Watch service (etcdserverpb), as frozen, slotted dataclasses with etcd's field order.

Theory of operation: these mirror rpc.proto field for field, in proto order, so that the
generic converter (convert.py) can map them to the gateway's JSON, to the native msgpack maps
and to etcdctl's JSON without a per-message codec. Wire names that differ from the Python
attribute (`ID`, `TTL`, `grantedTTL`...) are declared once, in convert.WIRE_NAMES.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from petcd.common.kv import Event, KeyValue, ResponseHeader
# The Lease service's messages are the server's own (common/lease.py).
from petcd.common.lease import (  # noqa: F401
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseStatus, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
)


class FilterType(IntEnum):
    NOPUT = 0
    NODELETE = 1


@dataclass(frozen=True, slots=True)
class WatchCreateRequest:
    key: bytes = b""
    range_end: bytes = b""
    start_revision: int = 0
    progress_notify: bool = False
    filters: tuple[FilterType, ...] = ()
    prev_kv: bool = False
    watch_id: int = 0
    fragment: bool = False


@dataclass(frozen=True, slots=True)
class WatchCancelRequest:
    watch_id: int = 0


@dataclass(frozen=True, slots=True)
class WatchProgressRequest:
    pass


@dataclass(frozen=True, slots=True)
class WatchRequest:
    create_request: WatchCreateRequest | None = None
    cancel_request: WatchCancelRequest | None = None
    progress_request: WatchProgressRequest | None = None


@dataclass(frozen=True, slots=True)
class WatchResponse:
    header: ResponseHeader | None = None
    watch_id: int = 0
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    fragment: bool = False
    events: tuple[Event, ...] = ()


__all__ = ["KeyValue", "ResponseHeader", "Event", "LeaseGrantRequest", "LeaseGrantResponse",
           "LeaseRevokeRequest", "LeaseRevokeResponse", "LeaseKeepAliveRequest",
           "LeaseKeepAliveResponse", "LeaseTimeToLiveRequest", "LeaseTimeToLiveResponse",
           "LeaseLeasesRequest", "LeaseStatus", "LeaseLeasesResponse", "FilterType",
           "WatchCreateRequest", "WatchCancelRequest", "WatchProgressRequest", "WatchRequest",
           "WatchResponse"]
