"""Lock and Election on the server: etcd's v3lock and v3election services.

Theory of operation. etcd implements both services inside the server with clientv3's
concurrency package, as a client of its own KV; this module does the same with the service
layer's calls, so every step is an ordinary, replicated KV request.

- A session is a lease: the request's, or, for lease 0, a new 60 s lease that nobody keeps
  alive (what etcd's server does: its session's keep-alive ends with the request).
- A lock or a candidacy is the key `<name>/<lease in lowercase hex>`, created in a txn only if
  it does not exist (else the existing one is reused, so locking again with the same lease
  re-acquires). Holders are ordered by create revision: the one with the lowest holds it; the
  others wait until every key of the name created before theirs is deleted (waitDeletes:
  watch the newest such key for its delete, then look again).
- A waiter whose call ends before it acquires the lock deletes its key, as etcd does.
- Errors reach the client with code Unknown (clientv3 loses their gRPC code on the way), with
  etcd's texts: "election: not leader", "election: no leader", "\"leader\" field must be
  provided".

Waiting uses the worker's watch hub directly (a Watcher whose sink is a queue), so a waiter
costs no polling and sees every revision from the one it read.

Must never: report a lock or leadership that the store does not hold, or leave the key of a
waiter whose caller has gone.
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable

from petcd.common.concurrency import (
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, LockRequest,
    LockResponse, ProclaimRequest, ProclaimResponse, ResignRequest, ResignResponse,
    UnlockRequest, UnlockResponse,
)
from petcd.common.errors import Code, EtcdError
from petcd.common.kv import (
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, EventType, FilterType,
    PutRequest, RangeRequest, RequestOp, SortOrder, SortTarget, TxnRequest, prefix_end,
)
from petcd.common.lease import LeaseGrantRequest
from .watch_hub import SINGLE_KEY, Watcher

SESSION_TTL_S = 60  # clientv3/concurrency's default session TTL

ERR_NOT_LEADER = "election: not leader"
ERR_NO_LEADER = "election: no leader"
ERR_MISSING_LEADER = '"leader" field must be provided'


class _QueueSink:
    """A watcher's sink that queues (events, header revision) for one reader."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def deliver(self, w: Watcher, events, header_revision: int) -> None:
        w.pending_events = 0  # read at once by the waiting coroutine
        self.queue.put_nowait((events, header_revision))

    def compacted(self, w: Watcher, compact_revision: int) -> None:
        self.queue.put_nowait(([], 0))  # look again from the store


def _unknown(e: EtcdError) -> EtcdError:
    return EtcdError(Code.UNKNOWN, e.message)


def _created_at(key: bytes, rev: int) -> Compare:
    return Compare(result=CompareResult.EQUAL, target=CompareTarget.CREATE, key=key,
                   create_revision=rev)


def _first_created(prefix: bytes) -> RangeRequest:
    return RangeRequest(key=prefix, range_end=prefix_end(prefix), limit=1,
                        sort_order=SortOrder.ASCEND, sort_target=SortTarget.CREATE)


class Concurrency:
    def __init__(self, service, leases, hub: Callable[[], object]) -> None:
        """service: the KVService; leases: the LeaseService; hub(): the worker's WatchHub."""
        self.service = service
        self.leases = leases
        self._hub = hub

    # -- sessions and waiting ---------------------------------------------------------------

    async def _session_lease(self, lease: int) -> int:
        if lease:
            return lease
        granted = await self.leases.grant(LeaseGrantRequest(ttl=SESSION_TTL_S))
        return granted.id

    async def _watch(self, key: bytes, start_revision: int, *, deletes_only: bool,
                     prefix: bool = False) -> AsyncIterator[tuple[list, int]]:
        hub = self._hub()
        sink = _QueueSink()
        w = Watcher(-1, key, prefix_end(key) if prefix else SINGLE_KEY, start_revision, sink,
                    filters=(FilterType.NOPUT,) if deletes_only else ())
        hub.refresh()
        hub.add(w)
        try:
            while True:
                yield await sink.queue.get()
        finally:
            hub.remove(w)

    async def _wait_deletes(self, prefix: bytes, max_create_rev: int):
        """Until no key under prefix was created at or before max_create_rev; the header of
        the read that found none (clientv3's waitDeletes)."""
        while True:
            resp = await self.service.range(RangeRequest(
                key=prefix, range_end=prefix_end(prefix), limit=1,
                max_create_revision=max_create_rev, sort_order=SortOrder.DESCEND,
                sort_target=SortTarget.CREATE))
            if not resp.kvs:
                return resp.header
            events = self._watch(resp.kvs[0].key, resp.header.revision + 1, deletes_only=True)
            try:
                await anext(events)  # its delete (or a compaction: look again)
            finally:
                await events.aclose()

    async def _acquire(self, prefix: bytes, lease: int, value: bytes):
        """Create (or find) this session's key under prefix; (key, its create revision, the
        txn's header, whether it holds the first place, the value found)."""
        key = prefix + b"%x" % lease
        owner = RequestOp(request_range=_first_created(prefix))
        resp = await self.service.txn(TxnRequest(
            compare=(_created_at(key, 0),),
            success=(RequestOp(request_put=PutRequest(key=key, value=value, lease=lease)),
                     owner),
            failure=(RequestOp(request_range=RangeRequest(key=key)), owner)))
        if resp.succeeded:
            rev, found = resp.header.revision, value
        else:
            kv = resp.responses[0].response_range.kvs[0]
            rev, found = kv.create_revision, kv.value
        first = resp.responses[1].response_range.kvs
        return key, rev, resp.header, bool(first) and first[0].create_revision == rev, found

    # -- Lock ---------------------------------------------------------------------------------

    async def lock(self, req: LockRequest) -> LockResponse:
        try:
            lease = await self._session_lease(req.lease)
            prefix = req.name + b"/"
            key, rev, header, held, _ = await self._acquire(prefix, lease, b"")
            if not held:
                try:
                    header = await self._wait_deletes(prefix, rev - 1)
                except BaseException:
                    await asyncio.shield(self._delete(key))  # the caller is gone: let go
                    raise
            return LockResponse(header=header, key=key)
        except EtcdError as e:
            raise _unknown(e) from None

    async def unlock(self, req: UnlockRequest) -> UnlockResponse:
        try:
            resp = await self._delete(req.key)
        except EtcdError as e:
            raise _unknown(e) from None
        return UnlockResponse(header=resp.header)

    async def _delete(self, key: bytes):
        return await self.service.delete_range(DeleteRangeRequest(key=key))

    # -- Election -----------------------------------------------------------------------------

    async def campaign(self, req: CampaignRequest) -> CampaignResponse:
        try:
            lease = await self._session_lease(req.lease)
            prefix = req.name + b"/"
            key, rev, header, held, found = await self._acquire(prefix, lease, req.value)
            leader = LeaderKey(name=req.name, key=key, rev=rev, lease=lease)
            if found != req.value:  # a candidacy of this session already: take the new value
                await self._proclaim(leader, req.value)
            try:
                header = await self._wait_deletes(prefix, rev - 1)
            except BaseException:
                await asyncio.shield(self._delete(key))
                raise
            return CampaignResponse(header=header, leader=leader)
        except EtcdError as e:
            raise _unknown(e) from None

    async def _proclaim(self, leader: LeaderKey, value: bytes):
        resp = await self.service.txn(TxnRequest(
            compare=(_created_at(leader.key, leader.rev),),
            success=(RequestOp(request_put=PutRequest(key=leader.key, value=value,
                                                      lease=leader.lease)),)))
        if not resp.succeeded:
            raise EtcdError(Code.UNKNOWN, ERR_NOT_LEADER)
        return resp

    async def proclaim(self, req: ProclaimRequest) -> ProclaimResponse:
        if req.leader is None:
            raise EtcdError(Code.UNKNOWN, ERR_MISSING_LEADER)
        try:
            resp = await self._proclaim(req.leader, req.value)
        except EtcdError as e:
            raise _unknown(e) from None
        return ProclaimResponse(header=resp.header)

    async def resign(self, req: ResignRequest) -> ResignResponse:
        if req.leader is None:
            raise EtcdError(Code.UNKNOWN, ERR_MISSING_LEADER)
        try:
            resp = await self.service.txn(TxnRequest(
                compare=(_created_at(req.leader.key, req.leader.rev),),
                success=(RequestOp(request_delete_range=DeleteRangeRequest(
                    key=req.leader.key)),)))
        except EtcdError as e:
            raise _unknown(e) from None
        return ResignResponse(header=resp.header)

    async def leader(self, req: LeaderRequest) -> LeaderResponse:
        try:
            resp = await self.service.range(_first_created(req.name + b"/"))
        except EtcdError as e:
            raise _unknown(e) from None
        if not resp.kvs:
            raise EtcdError(Code.UNKNOWN, ERR_NO_LEADER)
        return LeaderResponse(header=resp.header, kv=resp.kvs[0])

    async def observe(self, req: LeaderRequest) -> AsyncIterator[LeaderResponse]:
        """Every leader of the election as it changes: the current one (or the first to come),
        then each new value of its key, until it is deleted; then the next (clientv3's
        Election.Observe)."""
        prefix = req.name + b"/"
        header_of = self.service.member.header
        while True:
            resp = await self.service.range(_first_created(prefix))
            if resp.kvs:
                kv, rev = resp.kvs[0], resp.header.revision
                yield LeaderResponse(header=resp.header, kv=kv)
            else:
                kv = None
                events = self._watch(prefix, resp.header.revision, deletes_only=False,
                                     prefix=True)
                try:
                    while kv is None:
                        evs, _ = await anext(events)
                        kv = next((e.kv for e in evs if e.type == EventType.PUT), None)
                finally:
                    await events.aclose()
                rev = kv.mod_revision
                yield LeaderResponse(header=header_of(rev), kv=kv)
            events = self._watch(kv.key, rev + 1, deletes_only=False)
            try:
                deleted = False
                while not deleted:
                    evs, header_rev = await anext(events)
                    for e in evs:
                        if e.type == EventType.DELETE:
                            deleted = True
                            break
                        yield LeaderResponse(header=header_of(header_rev), kv=e.kv)
            finally:
                await events.aclose()
