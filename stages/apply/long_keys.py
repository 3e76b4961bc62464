"""User keys longer than LMDB allows: how they are stored, and walking a table in key order.

Theory of operation. LMDB keys (and dup-sorted values) are at most ``STORED_MAX_BYTES``
(511, its compiled limit); etcd bounds a key only by the request size. A user key of at most
``RAW_MAX_BYTES`` (510) is stored as itself. A longer one is stored as its first
``PREFIX_BYTES`` (495) followed by a 16-byte BLAKE2b digest of the whole key: exactly 511
bytes, so a stored key is hashed iff it is 511 bytes long and the two forms never collide.
A table row under a hashed key keeps the whole key where a reader finds it: ``latest`` in the
row itself, ``key`` in the ``rev`` rows its dups name (schema.py).

Order. LMDB sorts stored keys bytewise. That is the user keys' order except among stored keys
longer than ``PREFIX_BYTES`` that share their first ``PREFIX_BYTES``, where the digest decides:
call such a run a zone. A zone is contiguous in LMDB's order (every member starts with the same
prefix and nothing else sorts among them), so ``walk`` gathers a zone, resolves its members to
user keys and sorts it; everywhere else a stored key is its user key. A bound of at most
``PREFIX_BYTES`` compares the same against a stored key as against its user key, so ``count``
needs no resolving at all for such bounds, which is every range anyone asks in practice.

Cost: a walk that reaches a zone reads all of it, rows included, before it yields the first
member, and a count whose bound is longer than ``PREFIX_BYTES`` resolves every hashed member
of that bound's zone. Only keys over 495 bytes sharing their first 495 bytes form a zone, so a
zone is large only where a client wrote many such keys (measured in review: a zone of 20,000
keys makes a limit=1 range take about 170 ms, against 8 ms over plain keys).

Must never: store a key longer than ``RAW_MAX_BYTES`` as itself; trust a digest without
checking the whole key where a reader can (``ReadView.get``). A digest collision would need
about 2**64 tries (birthday bound on 128 bits).
"""
from __future__ import annotations

from hashlib import blake2b
from operator import itemgetter
from typing import Callable, Iterable, Iterator

STORED_MAX_BYTES = 511
DIGEST_BYTES = 16
PREFIX_BYTES = STORED_MAX_BYTES - DIGEST_BYTES
RAW_MAX_BYTES = STORED_MAX_BYTES - 1

# (stored key, the row under it or None) -> the user key; called only for hashed keys.
UserKeyOf = Callable[[bytes, "bytes | None"], bytes]

_user = itemgetter(0)


def stored(key: bytes) -> bytes:
    """The LMDB key under which ``key`` lives (the key itself when short enough)."""
    if len(key) <= RAW_MAX_BYTES:
        return key
    return key[:PREFIX_BYTES] + blake2b(key, digest_size=DIGEST_BYTES).digest()


def is_hashed(stored_key: bytes) -> bool:
    return len(stored_key) == STORED_MAX_BYTES


def seek_to(start: bytes) -> bytes:
    """Where a walk from user key ``start`` positions its cursor (``set_range``)."""
    return start if len(start) <= PREFIX_BYTES else start[:PREFIX_BYTES]


def exact(start: bytes, end: bytes | None) -> bool:
    """Whether both bounds compare the same against stored keys as against user keys."""
    return len(start) <= PREFIX_BYTES and (end is None or len(end) <= PREFIX_BYTES)


def walk(rows: Iterable[tuple[bytes, bytes | None]], start: bytes, end: bytes | None,
         user_key_of: UserKeyOf) -> Iterator[tuple[bytes, bytes, bytes | None]]:
    """(user key, stored key, row) for every user key in [start, end), ascending.

    ``rows`` are a table's (stored key, row) pairs, ascending, from ``seek_to(start)``;
    ``end`` None means no upper bound.
    """
    zone: list | None = None
    prefix = b""
    for sk, row in rows:
        if zone is not None:
            if len(sk) > PREFIX_BYTES and sk.startswith(prefix):
                zone.append(_member(sk, row, user_key_of))
                continue
            members, stop = _settle(zone, start, end)
            yield from members
            if stop:
                return
            zone = None
        if len(sk) > PREFIX_BYTES:
            prefix = sk[:PREFIX_BYTES]
            zone = [_member(sk, row, user_key_of)]
            continue
        if end is not None and sk >= end:
            return
        if sk >= start:
            yield sk, sk, row
    if zone is not None:
        yield from _settle(zone, start, end)[0]


def _member(sk: bytes, row: bytes | None, user_key_of: UserKeyOf) -> tuple:
    """A zone member as walk yields it: (user key, stored key, row)."""
    return (user_key_of(sk, row) if len(sk) == STORED_MAX_BYTES else sk), sk, row


def _settle(zone: list, start: bytes, end: bytes | None) -> tuple[list, bool]:
    """A zone's members in [start, end), in user-key order, and whether it reached ``end``."""
    zone.sort(key=_user)
    out = []
    for member in zone:
        if end is not None and member[0] >= end:
            return out, True
        if member[0] >= start:
            out.append(member)
    return out, False


def count(keys: Iterable[bytes], start: bytes, end: bytes | None,
          user_key_of: UserKeyOf) -> int:
    """How many user keys are in [start, end); ``keys`` are stored keys, ascending from
    ``seek_to(start)``."""
    if exact(start, end):
        # A count needs no order, and both bounds compare exactly against stored keys.
        n = 0
        if end is None:
            for _ in keys:
                n += 1
        else:
            for k in keys:
                if k >= end:
                    break
                n += 1
        return n
    return sum(1 for _ in walk(((k, None) for k in keys), start, end, user_key_of))
