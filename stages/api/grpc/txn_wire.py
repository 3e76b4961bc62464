"""TxnRequests off the wire at any depth, with etcd's answers for too deep and malformed ones.

Theory of operation. A TxnRequest nests: its ops may hold TxnRequests. etcd's Go decoder takes
any depth, and etcd then refuses what its op budget cannot hold: checkTxnRequest gives each
nested txn the budget left by its parents (--max-txn-ops less the ops of every txn above it),
so a txn nested `max_txn_ops + 2` levels deep is refused as soon as the check reaches it,
whatever it holds ("etcdserver: too many operations in txn request"). The protobuf runtime
here (upb) refuses at about 50 levels, and crashes the process far deeper when its limit is
raised; so:

- a message upb decodes with its default limit is taken as is (the common case, no cost);
- else one linear pass over the bytes (`scan`) checks the whole message as Go's generated
  Unmarshal does, field by field in byte order, and answers the first fault with the text Go
  gives for it ("unexpected EOF", "proto: wrong wireType = 0 for field Success", ...). The
  leaf messages (Compare, RangeRequest, PutRequest, DeleteRangeRequest) are checked by upb,
  with upb's text. The same pass writes the message again with every txn one level below the
  deepest that can pass (nesting.max_txn_levels) emptied: the check refuses such a txn as soon
  as it reaches it, before it reads anything in it (over budget, or past the levels the
  stages carry), so the answer does not change, and upb then decodes a bounded depth.

The answer to a deep txn nests as deep: building it copies sub-messages through upb's decoder,
so the unary handler builds it again within `deep_messages` when the first try meets the limit.

Must never: hand upb a message nested deeper than the levels that can pass (plus the emptied
one), recurse in Python per level of the input, or accept a message Go's decoder refuses for
its txn structure.
"""
from __future__ import annotations

import contextlib

from google._upb import _message as upb_message
from google.protobuf.message import DecodeError

from petcd.common.proto import rpc_pb2
from ..nesting import max_txn_levels

_TXN, _OP = 0, 1
# Go's names of the known fields, for "wrong wireType" (gogo's generated Unmarshal)
_TXN_FIELDS = {1: "Compare", 2: "Success", 3: "Failure"}
_OP_FIELDS = {1: "RequestRange", 2: "RequestPut", 3: "RequestDeleteRange", 4: "RequestTxn"}
_NAMES = {_TXN: "TxnRequest", _OP: "RequestOp"}
_LEAVES = {(_TXN, 1): rpc_pb2.Compare, (_OP, 1): rpc_pb2.RangeRequest,
           (_OP, 2): rpc_pb2.PutRequest, (_OP, 3): rpc_pb2.DeleteRangeRequest}
_EOF = "unexpected EOF"
_OVERFLOW = "proto: integer overflow"
_NEGATIVE = "proto: negative length found during unmarshaling"


class WireError(Exception):
    """The message does not decode; str() is Go's text for the fault."""


def _varint(data: bytes, i: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if shift >= 64:
            raise WireError(_OVERFLOW)
        if i >= end:
            raise WireError(_EOF)
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, i
        shift += 7


def _length(data: bytes, i: int, end: int) -> tuple[int, int]:
    """A length prefix as Go reads it into an int: past 2**63 it is negative."""
    n, i = _varint(data, i, end)
    if n >= 1 << 63:
        raise WireError(_NEGATIVE)
    if i + n > end:
        raise WireError(_EOF)
    return n, i


def _skip(data: bytes, i: int, end: int, wire_type: int) -> int:
    """Past an unknown field whose tag ends at i (gogo's skipRpc, groups without recursion)."""
    groups = 0
    while True:
        if wire_type == 0:
            _, i = _varint(data, i, end)
        elif wire_type == 1:
            i += 8
        elif wire_type == 2:
            n, i = _varint(data, i, end)
            if n >= 1 << 63:
                raise WireError(_NEGATIVE)
            i += n
        elif wire_type == 3:
            groups += 1
        elif wire_type == 4:
            groups -= 1
        elif wire_type == 5:
            i += 4
        else:
            raise WireError(f"proto: illegal wireType {wire_type}")
        if groups <= 0:
            if i > end:
                raise WireError(_EOF)
            return i
        tag, i = _varint(data, i, end)
        wire_type = tag & 7


def encode_varint(n: int) -> bytes:
    """A protobuf varint."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def scan(data: bytes, cut_level: int) -> tuple[bytes, bool]:
    """Check `data` (a TxnRequest) as Go decodes it; return it written again with every txn
    at level `cut_level` (the outermost is level 1) emptied, and whether there was one.
    Raises WireError with Go's text for the first fault."""
    # One cursor walks the bytes: nested messages are contiguous, so the stack holds only
    # where each open message ends, and for the ones kept, their output so far.
    # frame: [kind, end, level, parts or None, field tag bytes for the parent]
    top: list = [_TXN, len(data), 1, [], b""]
    stack = [top]
    cut = False
    i = 0
    while stack:
        frame = stack[-1]
        kind, end, level, parts = frame[0], frame[1], frame[2], frame[3]
        if i >= end:
            stack.pop()
            if parts is not None and stack:  # a kept message: into its parent's output
                payload = b"".join(parts)
                stack[-1][3].append(frame[4] + encode_varint(len(payload)) + payload)
            continue
        start = i
        tag, i = _varint(data, i, end)
        tag_end = i
        field, wire_type = tag >> 3, tag & 7
        name = _NAMES[kind]
        if wire_type == 4:
            raise WireError(f"proto: {name}: wiretype end group for non-group")
        go_field = field & 0xFFFFFFFF
        if go_field >= 1 << 31:
            go_field -= 1 << 32  # Go's int32(wire >> 3)
        if go_field <= 0:
            raise WireError(f"proto: {name}: illegal tag {go_field} (wire type {tag})")
        known = (_TXN_FIELDS if kind == _TXN else _OP_FIELDS).get(field)
        if known is None:
            i = _skip(data, i, end, wire_type)
            if parts is not None:
                parts.append(data[start:i])
            continue
        if wire_type != 2:
            raise WireError(f"proto: wrong wireType = {wire_type} for field {known}")
        n, i = _length(data, i, end)
        head = data[start:tag_end]
        leaf = _LEAVES.get((kind, field))
        if leaf is not None:
            try:
                leaf.FromString(data[i:i + n])
            except DecodeError as e:
                raise WireError(str(e)) from None
            if parts is not None:
                parts.append(data[start:i + n])
            i += n
            continue
        # a RequestOp in a txn, or a txn in a RequestOp
        child_level = level + 1 if kind == _OP else level
        keep = parts is not None and not (kind == _OP and child_level >= cut_level)
        if kind == _OP and child_level == cut_level:
            cut = True
            if parts is not None:  # the emptied txn
                parts.append(head + b"\x00")
        stack.append([_OP if kind == _TXN else _TXN, i + n, child_level,
                      [] if keep else None, head])
    return b"".join(top[3]), cut


@contextlib.contextmanager
def deep_messages():
    """upb's depth limit lifted, for messages whose depth the caller has bounded (a txn
    decoded here, or its answer, which nests as the txn did)."""
    upb_message.SetAllowOversizeProtos(True)
    try:
        yield
    finally:
        upb_message.SetAllowOversizeProtos(False)


def decode(data: bytes, max_txn_ops: int) -> tuple[rpc_pb2.TxnRequest, bool]:
    """The TxnRequest in `data`, and whether it was cut (nested deeper than can pass: the
    check will refuse it). Raises WireError with Go's text."""
    try:
        return rpc_pb2.TxnRequest.FromString(data), False
    except DecodeError:
        pass  # nested past upb's limit, or malformed: look closer
    kept, cut = scan(data, max_txn_levels(max_txn_ops) + 1)
    try:
        with deep_messages():  # bounded by the cut
            return rpc_pb2.TxnRequest.FromString(kept), cut
    except DecodeError as e:  # a fault the scan does not model (upb is stricter somewhere)
        raise WireError(str(e)) from None

