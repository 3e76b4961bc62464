"""The lessor: when leases expire, kept by the raft stage of every member, acted on by the leader.

Theory of operation. What a lease *is* (its id, granted TTL, last checkpointed remaining TTL,
its keys) lives in LMDB and changes only through the raft log; apply reports every change
(`LeaseChanges`), so each member's lessor knows every lease. *When* a lease expires is the
leader's business alone and never enters the log: the leader (`primary`) keeps an expiry time
per lease, renews it on keep-alive, and, once it passes, proposes the revoke through raft, at
most `revoke_rate_per_s` a second, retrying a revoke that did not land after
`REVOKE_RETRY_S`. Followers keep no expiry times; their members forward keep-alive and
time-to-live questions to the leader.

Leadership changes (better than etcd, issues #9395 and #9888): the leader checkpoints remaining
TTLs through raft every `checkpoint_interval_s`, and a renewal of a checkpointed lease proposes a
reset (remaining 0 = full TTL). A new leader starts each lease at its checkpointed remaining TTL
(or its full TTL if none), plus the election time it took: a lease is never cut short by a
leader change and is extended by at most one checkpoint interval plus an election.

Pure: time comes in as `now` (seconds, monotonic); proposals go out as values.
Must never: expire a lease while not the leader; revoke faster than the rate limit.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from petcd.common.lease import LeaseChanges

REVOKE_RETRY_S = 3.0            # etcd's expiredLeaseRetryInterval
MAX_CHECKPOINTS_PER_PROPOSAL = 1000   # etcd's maxLeaseCheckpointBatchSize


@dataclass(slots=True)
class _Lease:
    ttl: int
    remaining: int = 0          # the last checkpointed remaining TTL; 0 = none since renewal
    expiry: float = math.inf    # leader only


class Lessor:
    def __init__(self, *, revoke_rate_per_s: float, checkpoint_interval_s: float) -> None:
        self.leases: dict[int, _Lease] = {}
        self.primary = False
        self.revoke_rate_per_s = revoke_rate_per_s
        self.checkpoint_interval_s = checkpoint_interval_s
        self._heap: list[tuple[float, int]] = []      # (expiry, id); stale entries skipped
        self._revoking: dict[int, float] = {}         # id -> when to retry
        self._revoke_budget = 0.0
        self._last_expiry_check = 0.0
        self._resets: dict[int, int] = {}             # checkpoints to propose next (id -> 0)
        self._next_checkpoint = 0.0

    # -- what apply reports -------------------------------------------------------------------

    def apply_changes(self, changes: LeaseChanges, now: float) -> None:
        if changes.reset:
            self.leases.clear()
            self._heap.clear()
            self._revoking.clear()
        for lease_id, ttl, remaining in changes.granted:
            lease = self.leases.get(lease_id)
            if lease is None:
                lease = self.leases[lease_id] = _Lease(ttl, remaining)
                if self.primary:
                    self._set_expiry(lease_id, lease, now + (remaining or ttl))
            else:
                lease.ttl, lease.remaining = ttl, remaining
        for lease_id in changes.revoked:
            self.leases.pop(lease_id, None)
            self._revoking.pop(lease_id, None)
            self._resets.pop(lease_id, None)

    # -- leadership ---------------------------------------------------------------------------

    def promote(self, now: float, extend_s: float) -> None:
        """Become the one who expires leases: each restarts from its checkpoint, or its TTL."""
        self.primary = True
        self._heap.clear()
        self._revoking.clear()
        self._revoke_budget = 0.0
        self._last_expiry_check = now
        self._next_checkpoint = now + self.checkpoint_interval_s
        for lease_id, lease in self.leases.items():
            self._set_expiry(lease_id, lease, now + (lease.remaining or lease.ttl) + extend_s)

    def demote(self) -> None:
        self.primary = False
        self._heap.clear()
        self._revoking.clear()
        self._resets.clear()
        for lease in self.leases.values():
            lease.expiry = math.inf

    # -- questions (leader only) --------------------------------------------------------------

    def renew(self, lease_id: int, now: float) -> tuple[int, int]:
        """Keep-alive: (TTL, granted TTL), or (-1, 0) for a lease that does not exist (or has
        expired and is being revoked, as etcd answers)."""
        lease = self.leases.get(lease_id)
        if lease is None or lease_id in self._revoking:
            return -1, 0
        self._set_expiry(lease_id, lease, now + lease.ttl)
        if lease.remaining:
            lease.remaining = 0
            self._resets[lease_id] = 0
        return lease.ttl, lease.ttl

    def time_to_live(self, lease_id: int, now: float) -> tuple[int, int]:
        """(remaining TTL, granted TTL), or (-1, 0) for a lease that does not exist."""
        lease = self.leases.get(lease_id)
        if lease is None:
            return -1, 0
        # etcd truncates: a fresh 60 s lease reports 59.
        return max(0, int(lease.expiry - now)) if self.primary else lease.ttl, lease.ttl

    # -- what the leader proposes -------------------------------------------------------------

    def expired(self, now: float) -> list[int]:
        """Leases to revoke now, within the rate limit."""
        if not self.primary:
            return []
        elapsed = max(0.0, now - self._last_expiry_check)
        self._last_expiry_check = now
        # The budget refills at the rate, up to one second's worth (a burst after a pause).
        self._revoke_budget = min(self.revoke_rate_per_s,
                                  self._revoke_budget + elapsed * self.revoke_rate_per_s)
        out: list[int] = []
        for lease_id, retry_at in list(self._revoking.items()):
            if retry_at <= now and self._revoke_budget >= 1:
                out.append(lease_id)
                self._revoking[lease_id] = now + REVOKE_RETRY_S
                self._revoke_budget -= 1
        heap = self._heap
        while heap and heap[0][0] <= now and self._revoke_budget >= 1:
            expiry, lease_id = heapq.heappop(heap)
            lease = self.leases.get(lease_id)
            if lease is None or lease.expiry != expiry or lease_id in self._revoking:
                continue    # renewed or gone since this entry was pushed
            out.append(lease_id)
            self._revoking[lease_id] = now + REVOKE_RETRY_S
            self._revoke_budget -= 1
        return out

    def checkpoints(self, now: float) -> list[tuple[tuple[int, int], ...]]:
        """Checkpoint batches to propose now: renewal resets at once, and every interval the
        remaining TTL of each lease that has run down since it was last renewed."""
        if not self.primary:
            self._resets.clear()
            return []
        pending = dict(self._resets)
        self._resets.clear()
        if self.checkpoint_interval_s > 0 and now >= self._next_checkpoint:
            self._next_checkpoint = now + self.checkpoint_interval_s
            for lease_id, lease in self.leases.items():
                if lease_id in self._revoking or lease.expiry == math.inf:
                    continue
                remaining = max(1, math.ceil(lease.expiry - now))
                if remaining < lease.ttl and remaining != lease.remaining:
                    pending[lease_id] = remaining
                    lease.remaining = remaining
        items = sorted(pending.items())
        return [tuple(items[i:i + MAX_CHECKPOINTS_PER_PROPOSAL])
                for i in range(0, len(items), MAX_CHECKPOINTS_PER_PROPOSAL)]

    def _set_expiry(self, lease_id: int, lease: _Lease, expiry: float) -> None:
        lease.expiry = expiry
        heapq.heappush(self._heap, (expiry, lease_id))
