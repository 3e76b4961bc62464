"""Protobuf wire sizes of etcd's messages, computed from our dataclasses (we never encode
protobuf, but etcd's limits are stated in its encoded sizes).

Theory of operation: proto3 leaves default values out, so a field costs nothing at its
default, else its tag (one byte below field 16, two up to 2047), plus a varint or a length and
the body. Used for the gRPC receive limit and the raft request size (api/validate.py), the
quota's cost of a write (apply/quota.py), and where a `fragment` watcher's response is split
(api/watch_stream.py).

Must never: disagree with gogoproto's Size() for these messages (limits and split points
would move).
"""
from __future__ import annotations

from petcd.common.kv import (
    Compare, CompactionRequest, DeleteRangeRequest, Event, KeyValue, PutRequest, RangeRequest,
    RequestOp, ResponseHeader, TxnRequest, WatchResponse,
)


def varint_size(n: int) -> int:
    if 0 <= n < 0x80:
        return 1  # the common case, without the loop
    n &= (1 << 64) - 1  # negative int64s are ten bytes on the wire
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def len_field(tag_len: int, size: int) -> int:
    """A length-delimited field (bytes, string, message) whose body is `size` bytes."""
    return tag_len + varint_size(size) + size


def _bytes(tag_len: int, b: bytes | str) -> int:
    n = len(b.encode() if isinstance(b, str) else b)
    return len_field(tag_len, n) if n else 0


def _int(v: int) -> int:
    return 1 + varint_size(v) if v else 0


def _bool(v: bool) -> int:
    return 2 if v else 0


def _range_size(r: RangeRequest) -> int:
    return (_bytes(1, r.key) + _bytes(1, r.range_end) + _int(r.limit) + _int(r.revision)
            + _int(r.sort_order) + _int(r.sort_target) + _bool(r.serializable)
            + _bool(r.keys_only) + _bool(r.count_only) + _int(r.min_mod_revision)
            + _int(r.max_mod_revision) + _int(r.min_create_revision)
            + _int(r.max_create_revision))


def put_size(r: PutRequest) -> int:
    # Every write pays for this twice (size limits, quota): the bytes fields inline.
    k, v = r.key, r.value
    if type(k) is not bytes or type(v) is not bytes:
        return (_bytes(1, k) + _bytes(1, v) + _int(r.lease) + _bool(r.prev_kv)
                + _bool(r.ignore_value) + _bool(r.ignore_lease))
    nk, nv = len(k), len(v)
    size = (1 + varint_size(nk) + nk if nk else 0) + (1 + varint_size(nv) + nv if nv else 0)
    if r.lease:
        size += 1 + varint_size(r.lease)
    return size + 2 * (bool(r.prev_kv) + bool(r.ignore_value) + bool(r.ignore_lease))


def _delete_size(r: DeleteRangeRequest) -> int:
    return _bytes(1, r.key) + _bytes(1, r.range_end) + _bool(r.prev_kv)


def _compare_size(c: Compare) -> int:
    # target_union is a oneof: the gateway sends the member the JSON named. We count the one
    # that matches the target (exact for well-formed compares).
    union = (_int(c.version), _int(c.create_revision), _int(c.mod_revision),
             _bytes(1, c.value), _int(c.lease))
    return (_int(c.result) + _int(c.target) + _bytes(1, c.key)
            + (union[c.target] if 0 <= c.target < 5 else 0) + _bytes(2, c.range_end))


def _op_size(op: RequestOp, txn_sizes: dict[int, int]) -> int:
    if op.request_range is not None:
        return len_field(1, _range_size(op.request_range))
    if op.request_put is not None:
        return len_field(1, put_size(op.request_put))
    if op.request_delete_range is not None:
        return len_field(1, _delete_size(op.request_delete_range))
    if op.request_txn is not None:
        return len_field(1, txn_sizes[id(op.request_txn)])
    return 0


def _txn_size(root: TxnRequest) -> int:
    # Bottom-up over the nested txns with an explicit stack: the gateway accepts thousands of
    # levels (the op budget refuses them only later), more than Python's recursion allows.
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        t, children_done = stack.pop()
        ops = t.success + t.failure
        if not children_done:
            stack.append((t, True))
            stack.extend((op.request_txn, False) for op in ops if op.request_txn is not None)
            continue
        sizes[id(t)] = (sum(len_field(1, _compare_size(c)) for c in t.compare)
                        + sum(len_field(1, _op_size(op, sizes)) for op in ops))
    return sizes[id(root)]


def _compaction_size(r: CompactionRequest) -> int:
    return _int(r.revision) + _bool(r.physical)


_SIZERS = {RangeRequest: _range_size, PutRequest: put_size,
           DeleteRangeRequest: _delete_size, TxnRequest: _txn_size,
           CompactionRequest: _compaction_size}


def message_size(req: object) -> int:
    """The protobuf-encoded size of a KV request (what gRPC receives from the gateway)."""
    return _SIZERS[type(req)](req)


# --- watch responses (v3rpc/watch.go sendFragments compares wr.Size() with its limit) --------

def header_size(h: ResponseHeader) -> int:
    return _int(h.cluster_id) + _int(h.member_id) + _int(h.revision) + _int(h.raft_term)


def kv_size(kv: KeyValue) -> int:
    return (_bytes(1, kv.key) + _int(kv.create_revision) + _int(kv.mod_revision)
            + _int(kv.version) + _bytes(1, kv.value) + _int(kv.lease))


def event_size(ev: Event) -> int:
    n = _int(int(ev.type))
    if ev.kv is not None:
        n += len_field(1, kv_size(ev.kv))
    if ev.prev_kv is not None:
        n += len_field(1, kv_size(ev.prev_kv))
    return n


def event_field_size(ev: Event) -> int:
    """The bytes one event adds to a WatchResponse (field 11: tag, length, body)."""
    return len_field(1, event_size(ev))


def response_size_without_events(wr: WatchResponse) -> int:
    n = len_field(1, header_size(wr.header)) if wr.header is not None else 0
    n += _int(wr.watch_id) + _int(wr.compact_revision) + _bytes(1, wr.cancel_reason)
    n += 2 * (bool(wr.created) + bool(wr.canceled) + bool(wr.fragment))
    return n


def response_size(wr: WatchResponse) -> int:
    return response_size_without_events(wr) + sum(event_field_size(e) for e in wr.events)
