"""The api's result waiters: answered in time, or failed once their deadline passes."""
import asyncio

import pytest

from petcd.common.pipeline import ApplyResult
from petcd.stages.api.waiters import RequestExpired, Results


def _run(scenario):
    """Run `scenario(results, loop, start)` on a fresh loop with empty Results."""
    async def main():
        loop = asyncio.get_running_loop()
        await scenario(Results(), loop, loop.time())
    asyncio.run(main())


def test_an_answer_before_the_deadline_is_the_result():
    async def scenario(results, loop, start):
        fut = results.register(1, start + 0.05)
        results.resolve(ApplyResult(request_id=1, response=None))
        assert (await fut).request_id == 1
        await asyncio.sleep(0.08)  # the sweep passes over the answered request
        assert len(results) == 0
    _run(scenario)


def test_no_answer_by_the_deadline_fails_the_waiter():
    async def scenario(results, loop, start):
        fut = results.register(7, start + 0.05)
        with pytest.raises(RequestExpired):
            await fut
        assert loop.time() - start >= 0.05
        assert len(results) == 0
    _run(scenario)


def test_a_retry_keeps_the_first_deadline():
    async def scenario(results, loop, start):
        first = results.register(3, start + 0.05)
        results.fail(3, ValueError("no leader"))
        with pytest.raises(ValueError):
            await first
        again = results.register(3, None)
        with pytest.raises(RequestExpired):
            await again
        assert loop.time() - start < 1.0
    _run(scenario)


def test_later_requests_expire_in_turn():
    async def scenario(results, loop, start):
        early = results.register(1, start + 0.03)
        late = results.register(2, start + 0.06)
        with pytest.raises(RequestExpired):
            await early
        assert not late.done()
        with pytest.raises(RequestExpired):
            await late
    _run(scenario)
