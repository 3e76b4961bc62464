"""The Lease and Watch messages the client speaks, in one namespace (`m.LeaseGrantRequest`).

They are the server's own dataclasses (common/lease.py, common/kv.py): one definition of each
message, in proto field order, which the generic converter (convert.py) maps to the gateway's
JSON, the native msgpack maps and etcdctl's JSON. Wire names that differ from the Python
attribute (`ID`, `TTL`, `grantedTTL`...) are declared once, in convert.WIRE_NAMES.
"""
from __future__ import annotations

from petcd.common.kv import (  # noqa: F401
    Event, FilterType, KeyValue, ResponseHeader, WatchCancelRequest, WatchCreateRequest,
    WatchProgressRequest, WatchRequest, WatchResponse,
)
# The Lease and Watch messages are the server's own (common/lease.py, common/kv.py).
from petcd.common.lease import (  # noqa: F401
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseStatus, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
)


__all__ = ["KeyValue", "ResponseHeader", "Event", "LeaseGrantRequest", "LeaseGrantResponse",
           "LeaseRevokeRequest", "LeaseRevokeResponse", "LeaseKeepAliveRequest",
           "LeaseKeepAliveResponse", "LeaseTimeToLiveRequest", "LeaseTimeToLiveResponse",
           "LeaseLeasesRequest", "LeaseStatus", "LeaseLeasesResponse", "FilterType",
           "WatchCreateRequest", "WatchCancelRequest", "WatchProgressRequest", "WatchRequest",
           "WatchResponse"]
