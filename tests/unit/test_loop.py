"""Loop.later: a one-shot timer that wakes the loop when due (not at the next periodic timer)
and runs once."""
import time

from petcd.ipc.loop import Loop


def test_later_runs_once_when_due_and_wakes_the_loop():
    loop = Loop()
    calls: list[float] = []
    ticks: list[int] = []
    start = time.monotonic()
    loop.every(5.0, lambda: ticks.append(1))       # would keep the loop asleep for 1 s turns
    loop.later(0.05, lambda: calls.append(time.monotonic() - start))
    loop.later(0.10, loop.stop)
    loop.run()
    assert len(calls) == 1 and 0.05 <= calls[0] < 0.9
    assert time.monotonic() - start < 0.9
    assert ticks == []
