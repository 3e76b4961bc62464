"""Protobuf wire sizes of watch responses, for fragmenting as etcd does.

Theory of operation: etcd splits a watch response for a `fragment` watcher by comparing the
response's protobuf size (`wr.Size()`) with max-request-bytes + 512 KiB (v3rpc/watch.go
sendFragments). We never encode protobuf, so this computes the same sizes from the dataclasses
(proto3: default values take no bytes; every field number here is below 16, so each tag is one
byte).

Must never: disagree with gogoproto's Size() for these messages (the split points would move).
"""
from __future__ import annotations

from petcd.common.kv import Event, KeyValue, ResponseHeader, WatchResponse


def varint_size(v: int) -> int:
    if v < 0:
        return 10  # a negative int64 is sign-extended to 64 bits
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def _int(v: int) -> int:
    return 1 + varint_size(v) if v else 0


def _bytes(b: bytes | str) -> int:
    n = len(b.encode() if isinstance(b, str) else b)
    return 1 + varint_size(n) + n if n else 0


def _msg(size: int) -> int:
    return 1 + varint_size(size) + size


def header_size(h: ResponseHeader) -> int:
    return _int(h.cluster_id) + _int(h.member_id) + _int(h.revision) + _int(h.raft_term)


def kv_size(kv: KeyValue) -> int:
    return (_bytes(kv.key) + _int(kv.create_revision) + _int(kv.mod_revision)
            + _int(kv.version) + _bytes(kv.value) + _int(kv.lease))


def event_size(ev: Event) -> int:
    n = _int(int(ev.type))
    if ev.kv is not None:
        n += _msg(kv_size(ev.kv))
    if ev.prev_kv is not None:
        n += _msg(kv_size(ev.prev_kv))
    return n


def event_field_size(ev: Event) -> int:
    """The bytes one event adds to a WatchResponse (field 11: tag, length, body)."""
    return _msg(event_size(ev))


def response_size_without_events(wr: WatchResponse) -> int:
    n = _msg(header_size(wr.header)) if wr.header is not None else 0
    n += _int(wr.watch_id) + _int(wr.compact_revision) + _bytes(wr.cancel_reason)
    n += 2 * (bool(wr.created) + bool(wr.canceled) + bool(wr.fragment))
    return n


def response_size(wr: WatchResponse) -> int:
    return response_size_without_events(wr) + sum(event_field_size(e) for e in wr.events)
