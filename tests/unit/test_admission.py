"""Fair admission of proposals (stages/api/admission.py): a window, then clients in turn."""
import asyncio

from petcd.stages.api.admission import FairAdmission


def run(coro):
    return asyncio.run(coro)


def test_within_the_window_nobody_waits():
    async def main():
        a = FairAdmission(window=2)
        await a.enter("x")
        await a.enter("y")
        assert a.in_flight == 2 and a.waiting == 0
        a.leave()
        a.leave()
        assert a.in_flight == 0
    run(main())


def test_past_the_window_clients_are_let_in_by_turns_not_by_arrival():
    async def main():
        a = FairAdmission(window=1)
        await a.enter("flood")
        order = []

        async def write(client, n):
            await a.enter(client)
            order.append((client, n))

        # the flood queues 5 proposals, then a newcomer queues 1
        tasks = [asyncio.create_task(write("flood", i)) for i in range(5)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(write("newcomer", 0)))
        await asyncio.sleep(0)
        assert a.waiting == 6
        for _ in range(6):
            a.leave()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        # the newcomer waits for one turn of the flood, not for its backlog
        assert order[:2] == [("flood", 0), ("newcomer", 0)]
        assert [n for c, n in order if c == "flood"] == [0, 1, 2, 3, 4]
    run(main())


def test_the_members_own_proposals_are_never_held():
    async def main():
        a = FairAdmission(window=1)
        await a.enter("x")
        await asyncio.wait_for(a.enter(None), 1)
        assert a.in_flight == 2
    run(main())


def test_a_waiter_that_gives_up_loses_no_slot():
    async def main():
        a = FairAdmission(window=1)
        await a.enter("x")
        gone = asyncio.create_task(a.enter("y"))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert a.waiting == 0
        a.leave()
        assert a.in_flight == 0
        await asyncio.wait_for(a.enter("z"), 1)  # the slot is there for the next writer
    run(main())


def test_a_slot_handed_to_a_cancelled_waiter_passes_on():
    async def main():
        a = FairAdmission(window=1)
        await a.enter("x")
        first = asyncio.create_task(a.enter("y"))
        second = asyncio.create_task(a.enter("z"))
        await asyncio.sleep(0)
        a.leave()      # hands the slot to y...
        first.cancel()  # ...which gives up before it runs
        await asyncio.gather(first, return_exceptions=True)
        await asyncio.wait_for(second, 1)  # z got it
        assert a.in_flight == 1
    run(main())
