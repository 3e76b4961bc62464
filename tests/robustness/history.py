"""The recorded history of a robustness run: what each client asked, when, and what it got back;
and what each watch stream delivered.

Theory of operation: the harness records one `Operation` per client request, with the wall
times (time.monotonic_ns, one clock for the whole run) at which the call started and returned.
An operation whose outcome is unknown (timeout, connection error, any error the model does not
know) has `response=None`: it may or may not have taken effect, and the checker treats it as
returning at +infinity. Its `return_ns` is then ignored (kept only for the human reading it).

Keys and values are `str`, not bytes: the workloads write ASCII keys and unique ASCII values,
the harness decodes what the client returns as UTF-8, and str keeps the saved JSON and the
checkers' explanations readable. A range's `range_end` follows etcd: "" means the single key,
"\\0" means every key >= key, anything else the half-open [key, range_end).

Every type here is a frozen dataclass holding plain values and tuples, so histories are
immutable, hashable where needed, and round-trip through JSON exactly (`save`/`load`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Union

# etcd's error messages, as the client sees them; the model produces exactly these.
ERR_COMPACTED = "etcdserver: mvcc: required revision has been compacted"
ERR_FUTURE_REV = "etcdserver: mvcc: required revision is a future revision"
ERR_LEASE_NOT_FOUND = "etcdserver: requested lease not found"
ERR_LEASE_EXISTS = "etcdserver: lease already exists"
MODEL_ERRORS = frozenset({ERR_COMPACTED, ERR_FUTURE_REV, ERR_LEASE_NOT_FOUND, ERR_LEASE_EXISTS})


def prefix_end(prefix: str) -> str:
    """The range_end that selects every key starting with `prefix` (etcd's GetPrefixRangeEnd)."""
    for i in range(len(prefix) - 1, -1, -1):
        if ord(prefix[i]) < 0x10FFFF:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return "\0"


def in_range(key: str, start: str, range_end: str) -> bool:
    if range_end == "":
        return key == start
    if range_end == "\0":
        return key >= start
    return start <= key < range_end


# --- requests ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Get:
    """A single-key Range. revision 0 reads the latest; serializable reads may be stale."""
    key: str
    revision: int = 0
    serializable: bool = False


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    range_end: str
    revision: int = 0
    limit: int = 0
    keys_only: bool = False
    serializable: bool = False


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: str
    lease_id: int = 0


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class Compare:
    """target: "VALUE" | "MOD" | "CREATE" | "VERSION" | "LEASE"; op: "=" | "!=" | ">" | "<"."""
    key: str
    target: str
    op: str
    value: Union[str, int]


TxnOp = Union[Get, Range, Put, Delete]


@dataclass(frozen=True, slots=True)
class Txn:
    compares: tuple[Compare, ...]
    on_success: tuple[TxnOp, ...]
    on_failure: tuple[TxnOp, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """lease_id 0 lets the server choose; the checker then takes the id from the response."""
    lease_id: int
    ttl_s: int


@dataclass(frozen=True, slots=True)
class LeaseRevoke:
    lease_id: int


@dataclass(frozen=True, slots=True)
class Compact:
    revision: int


@dataclass(frozen=True, slots=True)
class Defragment:
    pass


Request = Union[Get, Range, Put, Delete, Txn, LeaseGrant, LeaseRevoke, Compact, Defragment]
READS = (Get, Range)


# --- responses: `revision` is always the response header's revision ----------------------------

@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str
    mod_revision: int
    create_revision: int
    version: int


@dataclass(frozen=True, slots=True)
class RangeResponse:
    """For Get and Range: kvs sorted by key, at most `limit` of them; count ignores the limit.
    keys_only reads carry value ""."""
    revision: int
    kvs: tuple[KeyValue, ...]
    count: int


@dataclass(frozen=True, slots=True)
class PutResponse:
    revision: int


@dataclass(frozen=True, slots=True)
class DeleteResponse:
    revision: int
    deleted: int


@dataclass(frozen=True, slots=True)
class TxnResponse:
    """results: one per op of the executed branch (RangeResponse, PutResponse, DeleteResponse).
    Their own `revision` is not checked (etcd fills the inner headers unevenly)."""
    revision: int
    succeeded: bool
    results: tuple[Union[RangeResponse, PutResponse, DeleteResponse], ...]


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    revision: int
    lease_id: int


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    revision: int


@dataclass(frozen=True, slots=True)
class CompactResponse:
    revision: int


@dataclass(frozen=True, slots=True)
class DefragmentResponse:
    pass


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A definite failure. Only MODEL_ERRORS are outcomes the model predicts; any other error
    is treated by the checker as an unknown outcome (as if response were None)."""
    error: str


Response = Union[RangeResponse, PutResponse, DeleteResponse, TxnResponse, LeaseGrantResponse,
                 LeaseRevokeResponse, CompactResponse, DefragmentResponse, ErrorResponse]


@dataclass(frozen=True, slots=True)
class Operation:
    client_id: int
    call_ns: int
    return_ns: int | None
    request: Request
    response: Response | None

    @property
    def unknown(self) -> bool:
        return self.response is None or (
            isinstance(self.response, ErrorResponse) and self.response.error not in MODEL_ERRORS)


# --- watches ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Event:
    """type "PUT" | "DELETE". A DELETE carries etcd's tombstone: value "", create_revision 0,
    version 0, mod_revision the deleting revision."""
    type: str
    key: str
    value: str
    mod_revision: int
    create_revision: int
    version: int
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class WatchResponse:
    events: tuple[Event, ...]
    header_revision: int
    compact_revision: int = 0
    canceled: bool = False
    created: bool = False
    progress_notify: bool = False
    received_ns: int = 0


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """range_end as in Range ("" = the single key, prefix_end(key) = the prefix). member names
    the member the stream was opened on ("" = any), for the human reading a failure."""
    key: str
    range_end: str = ""
    start_revision: int = 0
    prev_kv: bool = False
    progress_notify: bool = False
    member: str = ""


@dataclass(frozen=True, slots=True)
class WatchStream:
    request: WatchRequest
    responses: tuple[WatchResponse, ...]


@dataclass(frozen=True, slots=True)
class History:
    operations: tuple[Operation, ...]
    watches: tuple[WatchStream, ...] = ()


# --- JSON: every dataclass becomes {"@": ClassName, field: value...}; tuples become lists -------

_TYPES = {cls.__name__: cls for cls in (
    Get, Range, Put, Delete, Compare, Txn, LeaseGrant, LeaseRevoke, Compact, Defragment,
    KeyValue, RangeResponse, PutResponse, DeleteResponse, TxnResponse, LeaseGrantResponse,
    LeaseRevokeResponse, CompactResponse, DefragmentResponse, ErrorResponse, Operation,
    Event, WatchResponse, WatchRequest, WatchStream, History)}


def _encode(value):
    if is_dataclass(value):
        out = {"@": type(value).__name__}
        for f in fields(value):
            out[f.name] = _encode(getattr(value, f.name))
        return out
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    return value


def _decode(value):
    if isinstance(value, dict):
        cls = _TYPES[value["@"]]
        return cls(**{k: _decode(v) for k, v in value.items() if k != "@"})
    if isinstance(value, list):
        # Every sequence in a history is a tuple, so decoding lists as tuples is exact.
        return tuple(_decode(v) for v in value)
    return value


def to_json(history: History) -> str:
    return json.dumps(_encode(history), separators=(",", ":"))


def from_json(text: str) -> History:
    return _decode(json.loads(text))


def save(history: History, path: str | Path) -> None:
    Path(path).write_text(to_json(history))


def load(path: str | Path) -> History:
    return from_json(Path(path).read_text())
