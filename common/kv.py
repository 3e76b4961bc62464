"""The KV service's messages: etcd's etcdserverpb/mvccpb types as frozen, slotted dataclasses.

Field names and defaults are the proto's, so the HTTP gateway codec, the ZeroMQ codec and the
MVCC store speak one vocabulary (reference/etcd-api.md sections 1.1 and 1.8). Keys and values
are bytes; revisions and ids are Python ints (the gateway codec turns int64 into JSON strings).
A RequestOp/ResponseOp holds exactly one of its fields, as the proto's oneof.

Kept apart from common/types.py (the Raft wire types) because the two change for different
reasons: this file follows etcd's client API, that one the Raft protocol.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


# range_end for "every key from `key` on"
FROM_KEY = b"\0"


def prefix_end(prefix: bytes) -> bytes:
    """The range_end of every key starting with `prefix`, as clientv3.GetPrefixRangeEnd: the
    last byte + 1 after dropping trailing 0xff; all-0xff or empty means FROM_KEY."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return FROM_KEY
    end[-1] += 1
    return bytes(end)


class SortOrder(IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class EventType(IntEnum):
    PUT = 0
    DELETE = 1


@dataclass(frozen=True, slots=True)
class ResponseHeader:
    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes = b""
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType = EventType.PUT
    kv: KeyValue | None = None
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class RangeRequest:
    key: bytes = b""
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


@dataclass(frozen=True, slots=True)
class RangeResponse:
    header: ResponseHeader | None = None
    kvs: tuple[KeyValue, ...] = ()
    more: bool = False
    count: int = 0


@dataclass(frozen=True, slots=True)
class PutRequest:
    key: bytes = b""
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@dataclass(frozen=True, slots=True)
class PutResponse:
    header: ResponseHeader | None = None
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class DeleteRangeRequest:
    key: bytes = b""
    range_end: bytes = b""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRangeResponse:
    header: ResponseHeader | None = None
    deleted: int = 0
    prev_kvs: tuple[KeyValue, ...] = ()


@dataclass(frozen=True, slots=True)
class Compare:
    result: CompareResult = CompareResult.EQUAL
    target: CompareTarget = CompareTarget.VERSION
    key: bytes = b""
    # The proto's target_union oneof: only the field matching `target` is meaningful; the
    # others compare as 0 (etcd's behaviour when the oneof does not match the target).
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0
    value: bytes = b""
    lease: int = 0
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class RequestOp:
    request_range: RangeRequest | None = None
    request_put: PutRequest | None = None
    request_delete_range: DeleteRangeRequest | None = None
    request_txn: TxnRequest | None = None


@dataclass(frozen=True, slots=True)
class TxnRequest:
    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseOp:
    response_range: RangeResponse | None = None
    response_put: PutResponse | None = None
    response_delete_range: DeleteRangeResponse | None = None
    response_txn: TxnResponse | None = None


@dataclass(frozen=True, slots=True)
class TxnResponse:
    header: ResponseHeader | None = None
    succeeded: bool = False
    responses: tuple[ResponseOp, ...] = ()


@dataclass(frozen=True, slots=True)
class CompactionRequest:
    revision: int = 0
    physical: bool = False


@dataclass(frozen=True, slots=True)
class CompactionResponse:
    header: ResponseHeader | None = None


# --- Watch (etcdserverpb.Watch; reference/etcd-api.md 1.2) ------------------------------------

class FilterType(IntEnum):
    """WatchCreateRequest.FilterType: which events a watcher does not want."""
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
    """The proto's request_union oneof: at most one field is set."""
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
