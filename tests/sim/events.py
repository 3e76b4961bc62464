"""The simulated clock: a queue of callbacks ordered by the step at which they fire.

Theory of operation: time advances only by popping the queue. `pop_step()` jumps to the earliest
scheduled step and returns every callback due then, in the order they were scheduled (a sequence
number breaks ties), so a run is a pure function of its seed. Steps at which nothing is
scheduled are skipped: nothing could change there.
"""
from __future__ import annotations

import heapq
from typing import Any, Callable


class EventQueue:
    __slots__ = ("now", "_heap", "_seq")

    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Callable[..., Any], tuple]] = []
        self._seq = 0

    def at(self, step: int, fn: Callable[..., Any], *args: Any) -> None:
        if step <= self.now:
            step = self.now + 1  # nothing happens "now": it would reorder the current step
        self._seq += 1
        heapq.heappush(self._heap, (step, self._seq, fn, args))

    def after(self, delay: int, fn: Callable[..., Any], *args: Any) -> None:
        self.at(self.now + delay, fn, *args)

    def next_step(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_step(self) -> list[tuple[Callable[..., Any], tuple]]:
        """Advance to the next step that has work, and return that work in schedule order."""
        heap = self._heap
        step = heap[0][0]
        self.now = step
        due = []
        while heap and heap[0][0] == step:
            _, _, fn, args = heapq.heappop(heap)
            due.append((fn, args))
        return due
