"""etcd's checks on a KV request before it is proposed: pure functions that raise EtcdError.

Theory of operation. etcd 3.4 rejects some requests in the gRPC layer, before they reach raft
(etcdserver/api/v3rpc/key.go), and rejects oversized proposals when it marshals them
(etcdserver/v3_server.go, processInternalRaftRequestOnce). The api stage runs the same checks in
the same order, so a client gets the same first error:

1. `check_grpc_message_size`: the gRPC server's receive limit (max_request_bytes + 512 KiB) on
   the protobuf size of the request; the gateway hits it before etcd sees the request.
2. `check_request` (per RPC, key.go): Range/Put/DeleteRange need a key; Put's ignore_value and
   ignore_lease exclude a value and a lease; a Txn is checked as op count -> compare keys ->
   each op in success then failure (nested txns recursively, against the remaining op budget,
   and no deeper than nesting.py allows; an empty RequestOp is "key not found") -> put/delete
   overlaps (`check_intervals`).
3. `check_request_size`: the marshalled raft request against max_request_bytes, only for
   requests that go through raft (not Range, not a read-only Txn).

Nothing here knows the store: errors that depend on data (missing key for ignore_*, unknown
lease, compacted or future revision) belong to apply. Never mutate the catalogue's errors;
raise copies.
"""
from __future__ import annotations

from petcd.common import errors
from petcd.common.errors import EtcdError
from petcd.common.kv import (CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest,
                             RequestOp, TxnRequest)
from petcd.common.proto_size import len_field, message_size
from .nesting import PIPELINE_MAX_TXN_LEVELS

DEFAULT_MAX_TXN_OPS = 128                  # --max-txn-ops
DEFAULT_MAX_REQUEST_BYTES = 1536 * 1024    # --max-request-bytes (1.5 MiB)
GRPC_OVERHEAD_BYTES = 512 * 1024           # embed: MaxRecvMsgSize = max-request-bytes + 512 KiB


def _raise(e: EtcdError):
    raise EtcdError(e.code, e.message)


# --------------------------------------------------------------------------------------------
# key.go

def check_range_request(r: RangeRequest) -> None:
    if not r.key:
        _raise(errors.ErrEmptyKey)


def check_put_request(r: PutRequest) -> None:
    if not r.key:
        _raise(errors.ErrEmptyKey)
    if r.ignore_value and r.value:
        _raise(errors.ErrValueProvided)
    if r.ignore_lease and r.lease != 0:
        _raise(errors.ErrLeaseProvided)


def check_delete_request(r: DeleteRangeRequest) -> None:
    if not r.key:
        _raise(errors.ErrEmptyKey)


def check_request_op(op: RequestOp, max_txn_ops: int, level: int = 1) -> None:
    """level: that of the txn holding the op (the top txn is 1)."""
    if op.request_range is not None:
        check_range_request(op.request_range)
    elif op.request_put is not None:
        check_put_request(op.request_put)
    elif op.request_delete_range is not None:
        check_delete_request(op.request_delete_range)
    elif op.request_txn is not None:
        check_txn_request(op.request_txn, max_txn_ops, level + 1)
    else:
        _raise(errors.ErrKeyNotFound)  # etcd's answer to an empty op


def check_txn_request(r: TxnRequest, max_txn_ops: int = DEFAULT_MAX_TXN_OPS,
                      level: int = 1) -> None:
    """checkTxnRequest: op count, compare keys, then every op (nested: remaining budget).
    level: how deeply this txn is nested (the top is 1); past nesting.PIPELINE_MAX_TXN_LEVELS
    it is refused as if over budget (etcd has no such bound; see nesting.py)."""
    opc = max(len(r.compare), len(r.success), len(r.failure))
    if opc > max_txn_ops or level > PIPELINE_MAX_TXN_LEVELS:
        _raise(errors.ErrTooManyOps)
    for c in r.compare:
        if not c.key:
            _raise(errors.ErrEmptyKey)
    for op in r.success:
        check_request_op(op, max_txn_ops - opc, level)
    for op in r.failure:
        check_request_op(op, max_txn_ops - opc, level)


def _in_deletes(dels: list[tuple[bytes, bytes]], k: bytes) -> bool:
    # A delete of [key, range_end) holds k when key <= k < range_end; no range_end = the key
    # alone. etcd's interval tree treats range_end "\x00" (from-key) as an ordinary, empty
    # interval here, so a from-key delete never conflicts with a put.
    for begin, end in dels:
        if end:
            if begin <= k < end:
                return True
        elif k == begin:
            return True
    return False


def check_intervals(ops: tuple[RequestOp, ...]) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """checkIntervals: puts of one branch must not repeat a key or fall in a delete range of
    the same branch (including through nested txns). Returns (puts, deletes) for the caller."""
    dels = [(op.request_delete_range.key, op.request_delete_range.range_end)
            for op in ops if op.request_delete_range is not None]
    puts: set[bytes] = set()
    for op in ops:
        t = op.request_txn
        if t is None:
            continue
        puts_then, dels_then = check_intervals(t.success)
        puts_else, dels_else = check_intervals(t.failure)
        for k in puts_then:
            if k in puts or _in_deletes(dels, k):
                _raise(errors.ErrDuplicateKey)
            puts.add(k)
        for k in puts_else:
            # the same key in both branches of one nested txn is fine: only one runs
            if (k in puts and k not in puts_then) or _in_deletes(dels, k):
                _raise(errors.ErrDuplicateKey)
            puts.add(k)
        dels.extend(dels_then)
        dels.extend(dels_else)
    for op in ops:
        p = op.request_put
        if p is None:
            continue
        if p.key in puts or _in_deletes(dels, p.key):
            _raise(errors.ErrDuplicateKey)
        puts.add(p.key)
    return puts, dels


def check_txn(r: TxnRequest, max_txn_ops: int = DEFAULT_MAX_TXN_OPS) -> None:
    """kvServer.Txn's checks: the request, then overlaps in success, then in failure."""
    check_txn_request(r, max_txn_ops)
    check_intervals(r.success)
    check_intervals(r.failure)


def check_request(req: object, max_txn_ops: int = DEFAULT_MAX_TXN_OPS) -> None:
    """The key.go check for any KV request (Compaction has none)."""
    t = type(req)
    if t is RangeRequest:
        check_range_request(req)
    elif t is PutRequest:
        check_put_request(req)
    elif t is DeleteRangeRequest:
        check_delete_request(req)
    elif t is TxnRequest:
        check_txn(req, max_txn_ops)
    elif t is not CompactionRequest:
        raise TypeError(f"not a KV request: {t.__name__}")


def check_grpc_message_size(req: object,
                            max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                            size: int | None = None) -> None:
    """gRPC's receive limit: ResourceExhausted (HTTP 429) with gRPC's own text. size: the
    request's message_size, if the caller has it."""
    limit = max_request_bytes + GRPC_OVERHEAD_BYTES
    if size is None:
        size = message_size(req)
    if size > limit:
        raise EtcdError(errors.Code.RESOURCE_EXHAUSTED,
                        f"grpc: received message larger than max ({size} vs. {limit})")


def goes_through_raft(req: object) -> bool:
    """Range and read-only Txn (every success and failure op a Range) are served without a
    proposal, so only the others meet the raft size check (etcdserver isTxnReadonly)."""
    t = type(req)
    if t is RangeRequest:
        return False
    if t is TxnRequest:
        return not all(op.request_range is not None for op in req.success + req.failure)
    return True


# InternalRaftRequest = header(100){ID(1): uint64} + the request in its field (3..7). etcd's
# request IDs carry the member id in their top 16 bits, so they are 9 or 10 varint bytes; we
# count 10, the larger, so we never accept what etcd would refuse.
_RAFT_HEADER_BYTES = len_field(2, 1 + 10)


def raft_request_size(req: object, size: int | None = None) -> int:
    """The size of the InternalRaftRequest etcd marshals for req (size: its message_size, if
    the caller has it)."""
    return _RAFT_HEADER_BYTES + len_field(1, message_size(req) if size is None else size)


def check_request_size(req: object,
                       max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                       size: int | None = None) -> None:
    """ErrRequestTooLarge for a proposal larger than max_request_bytes."""
    if goes_through_raft(req) and raft_request_size(req, size) > max_request_bytes:
        _raise(errors.ErrRequestTooLarge)


def validate(req: object, max_txn_ops: int = DEFAULT_MAX_TXN_OPS,
             max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> int:
    """Every pre-raft check, in etcd's order: gRPC size, key.go, raft request size. Returns
    the request's protobuf size (the quota's cost of a put is derived from it)."""
    size = message_size(req)  # both size checks need it: computed once
    check_grpc_message_size(req, max_request_bytes, size)
    check_request(req, max_txn_ops)
    check_request_size(req, max_request_bytes, size)
    return size
