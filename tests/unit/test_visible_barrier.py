"""KVService waits, on the event loop, for the commit of a batch apply has already answered
(stages/apply/answered.py) before it reads: a read never misses an acknowledged write."""
import asyncio

import pytest

from petcd.common.errors import ErrTimeout, EtcdError
from petcd.common.kv import RangeRequest, RangeResponse, ResponseHeader
from petcd.stages.api.service import KVService, MemberState


class _Reader:
    """The store as a worker sees it: `answered` by apply, `visible` committed."""
    def __init__(self, answered: int, visible: int) -> None:
        self.answered, self.visible = answered, visible

    def answered_index(self) -> int:
        return self.answered

    def range(self, req):
        return RangeResponse(header=ResponseHeader(revision=self.visible))


def _service(reader, timeout_s=5.0) -> KVService:
    svc = KVService(worker=1, reader=reader, member=MemberState(1, 2),
                    send_proposal=lambda p: None, send_read_index=lambda r: None,
                    request_timeout_s=timeout_s, max_txn_ops=128, max_request_bytes=1 << 20)
    svc.applied.advance(reader.visible, reader.visible)
    return svc


def test_a_read_behind_an_answer_waits_for_the_applied_broadcast():
    async def go():
        reader = _Reader(answered=5, visible=4)
        svc = _service(reader)
        read = asyncio.ensure_future(svc.range(RangeRequest(key=b"a", serializable=True)))
        await asyncio.sleep(0.05)
        assert not read.done()
        reader.visible = 5
        svc.applied.advance(5, 5)  # the Applied that follows the commit
        resp = await asyncio.wait_for(read, 5)
        assert resp.header.revision == 5
    asyncio.run(go())


def test_a_read_with_nothing_pending_does_not_wait():
    async def go():
        svc = _service(_Reader(answered=4, visible=4))
        resp = await asyncio.wait_for(svc.range(RangeRequest(key=b"a", serializable=True)), 1)
        assert resp.header.revision == 4
    asyncio.run(go())


def test_a_commit_that_never_comes_is_etcds_timeout():
    async def go():
        svc = _service(_Reader(answered=9, visible=4), timeout_s=0.1)
        with pytest.raises(EtcdError) as e:
            await svc.range(RangeRequest(key=b"a", serializable=True))
        assert e.value.message == ErrTimeout.message
    asyncio.run(go())
