"""The application each simulated member applies committed entries to.

Theory of operation: the state is the list of applied payloads (normal entries with data), the
configuration those entries left (`conf_state`, fed by `RawNode.apply_conf_change`), the ids
removed from the cluster (the transport refuses them, as etcd's does), and the index of the last
applied entry. `digest` chains a hash over the payloads, so two members with the same applied
index can be compared in O(1). The state is volatile: a restarted member rebuilds it from its
durable snapshot's data and then re-applies the log; `snapshot_data()` is that data.
"""
from __future__ import annotations

import hashlib

from petcd.common.types import ConfState, Snapshot

_EMPTY_DIGEST = b"\0" * 8


def chain(digest: bytes, payload: bytes) -> bytes:
    return hashlib.blake2b(digest + payload, digest_size=8).digest()


class StateMachine:
    __slots__ = ("applied_index", "payloads", "digest", "conf_state", "removed")

    def __init__(self, applied_index: int, payloads: list[bytes], digest: bytes,
                 conf_state: ConfState, removed: set[int]) -> None:
        self.applied_index = applied_index
        self.payloads = payloads
        self.digest = digest
        self.conf_state = conf_state
        self.removed = removed

    def apply_payload(self, index: int, data: bytes) -> None:
        self.payloads.append(data)
        self.digest = chain(self.digest, data)
        self.applied_index = index

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot_data(self) -> bytes:
        # Payloads are ASCII tokens without "|" or "\n" (the client makes them).
        removed = ",".join(map(str, sorted(self.removed)))
        head = f"{self.applied_index}|{self.digest.hex()}|{removed}|".encode()
        return head + b"\n".join(self.payloads)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> StateMachine:
        meta = snapshot.metadata
        if not snapshot.data:
            # The bootstrap snapshot (or none): an empty state at its index.
            return cls(meta.index, [], _EMPTY_DIGEST, meta.conf_state, set())
        index, digest, removed, body = snapshot.data.split(b"|", 3)
        sm = cls(int(index), body.split(b"\n") if body else [], bytes.fromhex(digest.decode()),
                 meta.conf_state, {int(r) for r in removed.split(b",") if r})
        return sm
