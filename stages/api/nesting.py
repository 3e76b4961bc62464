"""How deeply txns may nest, and the Python recursion that takes.

Theory of operation. A txn holds ops and an op may hold a txn, so a request can nest as deeply
as its sender likes, and every walk of it (decoders, the validator, the applier, the encoders
of its response) recurses once or more per level. etcd bounds the depth only indirectly: a
nested txn gets the op budget its parents left (checkTxnRequest), so the txn at level k (the
top is level 1) may hold at most max_txn_ops - (k - 1) ops; level max_txn_ops + 1 can only be
empty and no deeper level ever passes. petcd adds one bound of its own, PIPELINE_MAX_TXN_LEVELS:
the deepest txn that the codec between the stages (common/codec.py, msgpack, which nests at
most 1024 maps and arrays; a level of txn takes five, in the request and in its response)
carries as a proposal and back as a result. It is above what the default --max-txn-ops (128)
allows, so it only differs from etcd with a larger --max-txn-ops. validate.py refuses deeper
txns with etcd's "too many operations in txn request", as it refuses the ones over budget.

Decoders refuse nesting past `max_message_depth` while they decode, with the same error,
before they recurse any deeper: a request nested deeper can never pass validation. What
remains is bounded, and `allow_deep_txns` raises the api process's recursion limit to what
the deepest txn that can pass takes (Python's default of 1000 frames is about 140 levels for
the native decoder, seven frames a level). The apply stage needs no raise: it only sees txns
that passed, at two frames a level.

Must never: let a request nested deeper than these bounds reach a recursive walk.
"""
from __future__ import annotations

import sys

PIPELINE_MAX_TXN_LEVELS = 200

# The most frames any recursive walk of a txn takes per level of nesting (the native decoder:
# its decoder, the list of ops, the field conversion, for the txn and for the op), and what
# the process needs besides (the loop, a front end's call stack).
FRAMES_PER_LEVEL = 8
BASE_FRAMES = 1000


def max_txn_levels(max_txn_ops: int) -> int:
    """The deepest txn (levels, the top one included) that can pass validation."""
    return min(max_txn_ops + 1, PIPELINE_MAX_TXN_LEVELS)


def max_message_depth(max_txn_ops: int) -> int:
    """The deepest message nesting (the top request is 1) a decoder must accept: a txn at
    level L is at depth 2L - 1, its ops at 2L and their requests at 2L + 1. Anything deeper
    sits in a txn below the last level that can pass."""
    return 2 * max_txn_levels(max_txn_ops) + 1


def recursion_limit(max_txn_ops: int) -> int:
    return BASE_FRAMES + FRAMES_PER_LEVEL * (max_txn_levels(max_txn_ops) + 1)


def allow_deep_txns(max_txn_ops: int) -> None:
    """Raise this process's recursion limit so the deepest txn that can pass is walked
    without a RecursionError (never lowers it)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), recursion_limit(max_txn_ops)))
