"""Lease records in LMDB: which leases exist, their TTLs, and the keys attached to each.

Theory of operation. The store keeps what the state machine must agree on across members and
restarts: a lease's existence, its granted TTL (and last checkpointed remaining TTL), and its
attached keys (``lease_keys``, dup-sorted stored keys (long_keys.py), so revoking a lease finds
its keys without a scan).
Expiry timing, keep-alives and leader-only decisions belong to the lessor (stages/apply/lease.py,
to come), which drives grant/revoke through raft.

Invariants: a key is in ``lease_keys[L]`` iff its current KeyValue has lease L (kept by the MVCC
put/delete paths); a lease id is in ``lease_keys`` only if it is in ``lease``.
Must never: bump the revision (only the key deletions of a revoke do, in mvcc).
"""
from __future__ import annotations

from petcd.stages.apply.long_keys import is_hashed
from petcd.stages.apply.schema import LEASE_ID, LEASE_ROW, Dbs, latest_key

_id = LEASE_ID.pack


def exists(txn, dbs: Dbs, lease_id: int) -> bool:
    return txn.get(_id(lease_id), db=dbs.lease) is not None


def get(txn, dbs: Dbs, lease_id: int) -> tuple[int, int] | None:
    """(granted ttl, remaining ttl at last checkpoint or 0), or None."""
    raw = txn.get(_id(lease_id), db=dbs.lease)
    return None if raw is None else LEASE_ROW.unpack(raw)


def put(txn, dbs: Dbs, lease_id: int, ttl: int, remaining_ttl: int = 0) -> None:
    txn.put(_id(lease_id), LEASE_ROW.pack(ttl, remaining_ttl), db=dbs.lease)


def delete(txn, dbs: Dbs, lease_id: int) -> None:
    """Remove the lease and its attachment list (the keys themselves are mvcc's business)."""
    lid = _id(lease_id)
    txn.delete(lid, db=dbs.lease)
    cur = txn.cursor(db=dbs.lease_keys)
    if cur.set_key(lid):
        cur.delete(dupdata=True)


def attach(txn, dbs: Dbs, lease_id: int, stored_key: bytes) -> None:
    txn.put(_id(lease_id), stored_key, db=dbs.lease_keys, dupdata=True)


def detach(txn, dbs: Dbs, lease_id: int, stored_key: bytes) -> None:
    txn.delete(_id(lease_id), stored_key, db=dbs.lease_keys)


def keys(txn, dbs: Dbs, lease_id: int) -> list[bytes]:
    """The attached user keys, ascending (etcd revokes in sorted key order)."""
    cur = txn.cursor(db=dbs.lease_keys)
    if not cur.set_key(_id(lease_id)):
        return []
    out = list(cur.iternext_dup())
    if any(is_hashed(k) for k in out):
        # A hashed key's whole form is in its latest row (attached means it exists now).
        out = sorted(latest_key(txn.get(k, db=dbs.latest)) if is_hashed(k) else k
                     for k in out)
    return out


def ids(txn, dbs: Dbs) -> list[int]:
    return [LEASE_ID.unpack(k)[0]
            for k in txn.cursor(db=dbs.lease).iternext(keys=True, values=False)]
