"""Reads the linearizability search cannot judge, checked against the replay.

Theory of operation: the model holds only the present, so two kinds of reads are checked
here against the replay of the linearized writes (replay.py):
- serializable reads, served from one member's local store and allowed to be stale: at
  revision 0 they must equal the replay at their own header revision, at revision R the
  replay at R (etcd: "serializable reads at revision R equal the replay state at R");
- linearizable reads at a past revision R (the search checked their header and errors).
A "compacted" error is right only if some compaction went past R. A serializable "future
revision" error is not judged: the member may simply lag.
"""
from __future__ import annotations

from typing import Sequence

from tests.robustness.history import (
    ERR_COMPACTED, READS, ErrorResponse, Operation, RangeResponse,
)
from tests.robustness.precheck import describe_op
from tests.robustness.replay import Replay


def check_reads(ops: Sequence[Operation], replay: Replay) -> list[str]:
    t0 = min((op.call_ns for op in ops), default=0)
    out = []
    for i, op in enumerate(ops):
        req, resp = op.request, op.response
        if op.unknown or not isinstance(req, READS) or not (req.serializable or req.revision):
            continue
        if isinstance(resp, ErrorResponse):
            if resp.error == ERR_COMPACTED and replay.max_compaction <= req.revision:
                out.append(f"read failed as compacted but no compaction passed revision "
                           f"{req.revision} (highest {replay.max_compaction}): "
                           f"{describe_op(i, op, t0)}")
            continue
        if not isinstance(resp, RangeResponse):
            out.append(f"read answered with {type(resp).__name__}: {describe_op(i, op, t0)}")
            continue
        revision = req.revision or resp.revision
        if revision > replay.last_revision:
            out.append(f"read at revision {revision}, beyond the last written revision "
                       f"{replay.last_revision}: {describe_op(i, op, t0)}")
            continue
        want = replay.read_at(req, revision)
        if want.kvs != resp.kvs or want.count != resp.count:
            out.append(f"read differs from the replay at revision {revision}: "
                       f"{describe_op(i, op, t0)}; replay has kvs={want.kvs!r} "
                       f"count={want.count}")
    return out
