"""The protocol-neutral service layer: typed requests in, typed responses out.

Theory of operation: HTTP and ZeroMQ front ends decode a request into a common/kv.py value and
call one coroutine here; what comes back is a response value (or an EtcdError) that the front
end encodes. Writes are validated (etcd's pre-raft checks), encoded once into an
InternalRequest, proposed to raft, and answered when apply publishes their result. Reads are
served from LMDB in this process: serializable at once, linearizable after a ReadIndex round
and once the applied index has reached the read index (DESIGN.md section 1).

Must never: answer a write before its result arrived from apply, or a linearizable read before
the applied index reached its read index.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Callable

from petcd.common import codec
from petcd.common.auth import AUTH_CHANGES
from petcd.common.fields import fields_getter
from petcd.common.cluster import (
    AlarmAction, AlarmMember, AlarmRequest, AlarmResponse, AlarmType, MoveLeaderRequest,
    MoveLeaderResponse,
)
from petcd.common.errors import (
    Code, ErrDeadlineExceeded, ErrNoSpace, ErrTimeout, ErrTimeoutLeaderTransfer, EtcdError,
)
from petcd.common.kv import (
    CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, ResponseHeader, TxnRequest,
)
from petcd.common.lease import LeaseGrantRequest, LeaseRevokeRequest
from petcd.common.pipeline import (
    ApplyResult, Defragment, InternalRequest, Proposal, ProposalFailed, RaftStatus, ReadIndexRequest,
    PublishAttributes, TransferLeadership, TransferLeadershipStarted,
)
from petcd.stages.apply.applier import WORKER_SHIFT
from petcd.stages.api import validate
from petcd.stages.apply.txn import is_readonly as is_txn_readonly
from .admission import FairAdmission, request_client
from .waiters import AppliedIndex, ReadIndexer, RequestExpired, Results

# A proposal dropped for lack of a leader is retried after this long, until the request's
# deadline (etcd blocks such proposals until a leader appears).
RETRY_NO_LEADER_S = 0.05


class MemberState:
    """What this worker knows of its member: ids for headers, and the latest raft status."""

    def __init__(self, cluster_id: int, member_id: int) -> None:
        self.cluster_id = cluster_id
        self.member_id = member_id
        self.status = RaftStatus(term=0, lead=0, commit=0, raft_state=0)

    def header(self, revision: int) -> ResponseHeader:
        return ResponseHeader(self.cluster_id, self.member_id, revision, self.status.term)


class KVService:
    def __init__(self, *, worker: int, reader, member: MemberState,
                 send_proposal: Callable[[Proposal], None],
                 send_read_index: Callable[[ReadIndexRequest], None],
                 request_timeout_s: float, max_txn_ops: int, max_request_bytes: int,
                 proposal_window: int = 1 << 30) -> None:
        self.worker = worker
        self.reader = reader
        self.member = member
        self._send_proposal = send_proposal
        self.results = Results()
        self.applied = AppliedIndex()
        self.reads = ReadIndexer(worker, send_read_index)
        self._ids = itertools.count(1)
        self.transfers: dict[bytes, asyncio.Future] = {}
        self.request_timeout_s = request_timeout_s
        self.max_txn_ops = max_txn_ops
        self.max_request_bytes = max_request_bytes
        self.admission = FairAdmission(proposal_window)
        # The auth service (auth_service.py), set by the worker; None: no auth at all.
        self.auth = None

    # -- inputs from the pipes ----------------------------------------------------------------

    def on_result(self, result: ApplyResult) -> None:
        self.results.resolve(result)

    def on_proposal_failed(self, failure: ProposalFailed) -> None:
        self.results.fail(failure.request_id, _NoLeader(failure.reason))

    def on_status(self, status: RaftStatus) -> None:
        self.member.status = status

    # -- KV -----------------------------------------------------------------------------------

    def _validate(self, req: object) -> int:
        return validate.validate(req, self.max_txn_ops, self.max_request_bytes)

    async def range(self, req: RangeRequest):
        self._validate(req)
        await self.visible_barrier()
        if not req.serializable:
            await self.linearizable_barrier()
        if self.auth is not None:
            await self.auth.check(req)
        resp = self.reader.range(req)
        return _with_header(resp, self.member.header(resp.header.revision))

    async def visible_barrier(self) -> None:
        """Wait, without blocking the loop, until the store shows every batch apply has
        answered (stages/apply/answered.py): the reader's own check, which would block the
        loop for the length of a commit, then passes at once. A read that comes during a
        commit waits for it."""
        want = self.reader.answered_index()
        if want > self.applied.index:
            try:
                async with asyncio.timeout(self.request_timeout_s):
                    await self.applied.wait_for(want)
            except TimeoutError:
                raise _copy(ErrTimeout) from None

    async def linearizable_barrier(self) -> None:
        """Wait until this member has applied everything committed when we were called."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                index = await self.reads.read_index()
                await self.applied.wait_for(index)
        except TimeoutError:
            raise _copy(ErrTimeout) from None

    async def put(self, req: PutRequest):
        return await self._write(req)

    async def delete_range(self, req: DeleteRangeRequest):
        return await self._write(req)

    async def txn(self, req: TxnRequest):
        if not is_txn_readonly(req):
            return await self._write(req)
        # Like etcd: a txn of ranges only is a read, served here after the read barrier
        # (none if every range is serializable).
        self._validate(req)
        await self.visible_barrier()
        if not all(op.request_range.serializable for op in (*req.success, *req.failure)):
            await self.linearizable_barrier()
        if self.auth is not None:
            await self.auth.check(req)
        resp = self.reader.txn_readonly(req)
        return _with_header(resp, self.member.header(resp.header.revision))

    async def compact(self, req: CompactionRequest):
        return await self._write(req)

    async def move_leader(self, req: MoveLeaderRequest) -> MoveLeaderResponse:
        """Hand leadership to req.target_id; only the leader can (etcd's MoveLeader)."""
        ctx = b"move:%d:%d" % (self.worker, next(self._ids))
        fut = self.transfers.setdefault(ctx, asyncio.get_running_loop().create_future())
        self._send_proposal(TransferLeadership(self.worker, ctx, req.target_id))
        try:
            async with asyncio.timeout(self.request_timeout_s):
                error = await fut
                if error:
                    code = Code.FAILED_PRECONDITION
                    raise EtcdError(code, error)
                while self.member.status.lead != req.target_id:
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise _copy(ErrTimeoutLeaderTransfer) from None
        finally:
            self.transfers.pop(ctx, None)
        return MoveLeaderResponse()

    def on_transfer_started(self, started: TransferLeadershipStarted) -> None:
        fut = self.transfers.get(started.ctx)
        if fut is not None and not fut.done():
            fut.set_result(started.error)

    async def defragment(self, req=None):
        """Have this member's apply stage move the store to a compacted copy (member-local,
        as etcd's Defragment; stages/apply/defrag.py). No deadline: a large store takes long,
        and the client's own deadline ends the wait."""
        if self.auth is not None:
            await self.auth.admin(raw=True)
        request_id = self.new_request_id()
        fut = self.results.register(request_id, None)
        self._send_proposal(Defragment(self.worker, request_id))
        result: ApplyResult = await fut
        if result.error_code:
            raise EtcdError(Code(result.error_code), result.error_message)
        return result.response

    async def publish_attributes(self, name: str, client_urls: tuple[str, ...]) -> None:
        await self._write(PublishAttributes(self.member.member_id, name, client_urls))

    async def alarm(self, req: AlarmRequest) -> AlarmResponse:
        if req.action == AlarmAction.GET:
            return AlarmResponse(alarms=tuple(
                AlarmMember(m, a) for m, a in self.reader.alarms()
                if req.alarm == AlarmType.NONE or a == req.alarm))
        return await self._write(req)

    async def _check_quota(self, op: object, size: int) -> None:
        """size: op's protobuf size, which validation computed."""
        if type(op) in _GROWS_STORE and not self.reader.quota_available(op, size):
            # As etcd: raise the NOSPACE alarm through raft (so every member caps writes at the
            # same log position), then fail this request.
            alarm = AlarmRequest(AlarmAction.ACTIVATE, self.member.member_id, AlarmType.NOSPACE)
            try:
                await self._write(alarm, internal=True)  # raised for the member, not the user
            except EtcdError:
                pass
            raise _copy(ErrNoSpace)

    def new_request_id(self) -> int:
        """Unique within this member: (worker << 48) | sequence."""
        return (self.worker << WORKER_SHIFT) | next(self._ids)

    async def submit(self, request_id: int, message: object) -> ApplyResult:
        """Send `message` to raft and wait for the result of `request_id`; sent again after
        each refusal for lack of a leader (nothing was proposed), until the request's deadline.
        An error result is raised as its EtcdError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_s
        try:
            async with asyncio.timeout_at(deadline):  # its turn among the clients
                await self.admission.enter(request_client.get())
        except TimeoutError:
            raise _copy(ErrDeadlineExceeded) from None
        try:
            return await self._submit(request_id, message, deadline)
        finally:
            self.admission.leave()

    async def _submit(self, request_id: int, message: object, deadline: float) -> ApplyResult:
        loop = asyncio.get_running_loop()
        first = True
        while True:
            fut = self.results.register(request_id, deadline if first else None)
            first = False
            self._send_proposal(message)
            try:
                result: ApplyResult = await fut
                break
            except RequestExpired:
                raise _copy(ErrDeadlineExceeded) from None
            except _NoLeader:
                left_s = deadline - loop.time()
                await asyncio.sleep(min(RETRY_NO_LEADER_S, max(0.0, left_s)))
                if left_s <= RETRY_NO_LEADER_S:
                    raise _copy(ErrDeadlineExceeded) from None
        if result.error_code:
            raise EtcdError(Code(result.error_code), result.error_message)
        return result

    async def write(self, op: object):
        """Propose `op` as the client being served (its identity goes along for apply's
        permission checks) and return its result."""
        return await self._write(op)

    async def _write(self, op: object, internal: bool = False):
        if not isinstance(op, _NOT_KV):
            await self._check_quota(op, self._validate(op))
        user, auth_revision = (None, 0) if internal or self.auth is None else \
            await self.auth.identity()
        request_id = self.new_request_id()
        data = codec.encode(InternalRequest(request_id, self.member.member_id, op, user,
                                            auth_revision))
        result = await self.submit(request_id, Proposal(request_id, self.worker, data))
        resp = result.response
        if getattr(resp, "header", None) is None:
            return resp  # headerless responses (Alarm) stay so, as in etcd
        return _with_header(resp, self.member.header(resp.header.revision))


# Requests the quota is checked for (the others cannot grow the store).
_GROWS_STORE = (PutRequest, TxnRequest)

# Requests that are not KV: they skip the KV checks (their services check them).
_NOT_KV = (AlarmRequest, PublishAttributes, LeaseGrantRequest, LeaseRevokeRequest,
           *AUTH_CHANGES)


_REST_OF: dict[type, Callable[[object], tuple]] = {}


def _with_header(resp, header: ResponseHeader):
    """`resp` with its header replaced (every answer gets this member's ids and term): the
    response rebuilt from its other fields, read in one C call, as dataclasses.replace is
    several times slower and runs once per request."""
    rest = _REST_OF.get(type(resp))
    if rest is None:
        names = tuple(f.name for f in dataclasses.fields(resp))
        if names[0] != "header":
            return dataclasses.replace(resp, header=header)
        rest = _REST_OF[type(resp)] = fields_getter(names[1:])
    return type(resp)(header, *rest(resp))


class _NoLeader(Exception):
    pass


def _copy(e: EtcdError) -> EtcdError:
    return EtcdError(e.code, e.message)
