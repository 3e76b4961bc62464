"""The Lease service (etcd's LeaseServer): grant and revoke through raft, keep-alive and
time-to-live from the leader's lessor, the list and attached keys from the local store.

Theory of operation. Grant and revoke are writes: validated here (etcd's TTL bounds, a random
positive id when none is given), then proposed like any KV write. A keep-alive or time-to-live
is a question to the lessor on the leader (stages/raft/lessor.py), never a raft entry: it goes
to raft as a LeaseAsk and comes back as a LeaseAnswer; a question without an answer within
`retry_s` (no leader, a lost message, a leader change) is asked again until the request's
deadline, which fails with etcd's "request timed out".

Must never: let a keep-alive touch the raft log.
"""
from __future__ import annotations

import asyncio
import itertools
import math
import random
from typing import Callable

from petcd.common.errors import ErrLeaseTTLTooLarge, ErrTimeout, EtcdError
from petcd.common.kv import ResponseHeader
from petcd.common.lease import (
    LeaseAnswer, LeaseAsk, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
    LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseStatus, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
)

MAX_LEASE_TTL_S = 9_000_000_000        # etcd's MaxLeaseTTL


def min_lease_ttl_s(heartbeat_interval_ms: int, election_timeout_ms: int) -> int:
    """etcd's minimum TTL: 1.5 election timeouts, in whole seconds rounded up (2 s at the
    defaults)."""
    election_ticks = max(1, election_timeout_ms // heartbeat_interval_ms)
    return math.ceil((3 * election_ticks) // 2 * heartbeat_interval_ms / 1000.0)


class LeaseService:
    def __init__(self, kv, *, min_ttl_s: int, send: Callable[[object], None],
                 retry_s: float = 0.5) -> None:
        self.kv = kv                  # the KVService: writes, header, reader, timeout
        self.min_ttl_s = min_ttl_s
        self._send = send
        self._retry_s = retry_s
        self._asks: dict[bytes, asyncio.Future] = {}
        self._ctx = itertools.count(1)
        self._ids = random.SystemRandom()

    # -- through raft -------------------------------------------------------------------------

    async def grant(self, req: LeaseGrantRequest) -> LeaseGrantResponse:
        if req.ttl > MAX_LEASE_TTL_S:
            raise EtcdError(ErrLeaseTTLTooLarge.code, ErrLeaseTTLTooLarge.message)
        lease_id = req.id
        while lease_id == 0:          # etcd picks a positive 63-bit id
            lease_id = self._ids.getrandbits(63)
        return await self.kv._write(LeaseGrantRequest(max(req.ttl, self.min_ttl_s), lease_id))

    async def revoke(self, req: LeaseRevokeRequest) -> LeaseRevokeResponse:
        return await self.kv._write(LeaseRevokeRequest(req.id))

    # -- from the leader's lessor -------------------------------------------------------------

    async def keep_alive(self, req: LeaseKeepAliveRequest) -> LeaseKeepAliveResponse:
        ans = await self._ask(req.id, renew=True)
        # A dead lease answers TTL 0 (omitted in JSON), not an error, as etcd does.
        return LeaseKeepAliveResponse(self._header(), req.id, max(ans.ttl, 0))

    async def time_to_live(self, req: LeaseTimeToLiveRequest) -> LeaseTimeToLiveResponse:
        ans = await self._ask(req.id, renew=False)
        if ans.ttl < 0:
            return LeaseTimeToLiveResponse(self._header(), req.id, -1)
        keys = tuple(self.kv.reader.lease_keys(req.id)) if req.keys else ()
        return LeaseTimeToLiveResponse(self._header(), req.id, ans.ttl, ans.granted_ttl, keys)

    async def leases(self, req=None) -> LeaseLeasesResponse:
        return LeaseLeasesResponse(self._header(), tuple(
            LeaseStatus(i) for i in self.kv.reader.leases()))

    def on_answer(self, ans: LeaseAnswer) -> None:
        fut = self._asks.pop(ans.ctx, None)
        if fut is not None and not fut.done():
            fut.set_result(ans)

    async def _ask(self, lease_id: int, renew: bool) -> LeaseAnswer:
        kv = self.kv
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(kv.request_timeout_s):
                while True:
                    ctx = b"lease:%d:%d" % (kv.worker, next(self._ctx))
                    fut = self._asks[ctx] = loop.create_future()
                    # The lessor must know of the leases any client may have been answered
                    # (apply answers before its commit: stages/apply/answered.py): a
                    # keep-alive right after its grant would otherwise find no lease.
                    seen = max(kv.applied.index, kv.reader.answered_index())
                    self._send(LeaseAsk(kv.member.member_id, kv.worker, ctx, lease_id, renew,
                                        min_index=seen))
                    try:
                        return await asyncio.wait_for(fut, self._retry_s)
                    except TimeoutError:
                        continue                    # asked again under a new context
                    finally:
                        self._asks.pop(ctx, None)
        except TimeoutError:
            raise EtcdError(ErrTimeout.code, ErrTimeout.message) from None

    def _header(self) -> ResponseHeader:
        return self.kv.member.header(self.kv.reader.current_revision())
