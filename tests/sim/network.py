"""The fake network: latency, loss, duplication, reordering, partitions and one-way cuts.

Theory of operation: `send(m)` decides the message's fate at once, from the simulator's random
stream: lost, or delivered once or twice. A link is a stream, as etcd's TCP transport is: a
message arrives after a random latency but not before the previous message on its link. A few
messages leave that order (`reorder_rate`) and arrive much later, behind later traffic, and a
duplicate copy travels on its own, so the core also sees reordering. `cut` holds the directed
links that lose everything: a partition cuts both directions between two groups, a one-way cut
a single direction. A link is checked when the message is sent and again when it arrives, so a
partition also swallows what was in flight. `heal()` ends every cut; `faults = False` also stops
random loss, duplication and reordering (the network is then a reliable FIFO per link).

The network knows nothing about Raft beyond the message's `to` and the node that sent it (which
is not `frm` for a forwarded proposal or read): the cluster is told of every delivery and loss
and decides what the endpoints learn (e.g. report_unreachable).
"""
from __future__ import annotations

import random
from typing import Callable

from petcd.common.types import Message
from .events import EventQueue
from .scenario import STEPS_PER_TICK, Scenario
from .trace import NullTrace


class Network:
    def __init__(self, scenario: Scenario, rng: random.Random, events: EventQueue,
                 deliver: Callable[[Message, int, int], None],
                 lost: Callable[[Message, int, int], None],
                 trace: NullTrace) -> None:
        self.rng = rng
        self.events = events
        self.deliver_cb = deliver
        self.lost_cb = lost
        self.trace = trace
        self.min_delay = scenario.net_min_delay
        self.max_delay = scenario.net_max_delay
        self.drop_rate = scenario.drop_rate
        self.dup_rate = scenario.dup_rate
        self.reorder_rate = scenario.reorder_rate
        self._link_busy: dict[tuple[int, int], int] = {}  # link -> step of its last arrival
        self.faults = True
        self._split: set[tuple[int, int]] = set()     # the current partition, both ways
        self._one_way: set[tuple[int, int]] = set()   # single directed links
        self.cut: set[tuple[int, int]] = set()        # their union: what loses messages
        self.sent = self.delivered = self.dropped = 0
        self.sent_by_type: dict[int, int] = {}

    # -- traffic ------------------------------------------------------------------------------

    def send(self, m: Message, sender: int, sender_incarnation: int) -> None:
        """Put m on the wire from node `sender` (not always m.frm: a forwarded proposal keeps
        its origin in m.frm); sender_incarnation lets the cluster ignore a restarted sender."""
        self.sent += 1
        by_type = self.sent_by_type
        by_type[m.type] = by_type.get(m.type, 0) + 1
        rng = self.rng
        link = (sender, m.to)
        if link in self.cut:
            self._lose(m, sender, sender_incarnation, "cut")
            return
        copies = 1
        if self.faults:
            if self.drop_rate and rng.random() < self.drop_rate:
                self._lose(m, sender, sender_incarnation, "loss")
                return
            if self.dup_rate and rng.random() < self.dup_rate:
                copies = 2
        now = self.events.now
        for copy in range(copies):
            if copy or (self.faults and self.reorder_rate and rng.random() < self.reorder_rate):
                # Out of the stream: overtaken by later messages on the link.
                at = now + rng.randint(self.min_delay, 5 * STEPS_PER_TICK)
            else:
                at = max(now + rng.randint(self.min_delay, self.max_delay),
                         self._link_busy.get(link, 0))
                self._link_busy[link] = at
            self.events.at(at, self._arrive, m, sender, sender_incarnation)

    def _arrive(self, m: Message, sender: int, sender_incarnation: int) -> None:
        if (sender, m.to) in self.cut:
            self._lose(m, sender, sender_incarnation, "cut in flight")
            return
        self.delivered += 1
        self.deliver_cb(m, sender, sender_incarnation)

    def _lose(self, m: Message, sender: int, sender_incarnation: int, why: str) -> None:
        self.dropped += 1
        if self.trace.enabled:
            self.trace.add(self.events.now, "drop", why, m,
                           f"(via {sender})" if sender != m.frm else "")
        self.lost_cb(m, sender, sender_incarnation)

    # -- faults -------------------------------------------------------------------------------

    def partition(self, groups: list[set[int]]) -> None:
        """Split the nodes into groups that cannot talk to each other (replaces any split)."""
        self._split = {(a, b) for g in groups for h in groups if g is not h
                       for a in g for b in h}
        self._update()

    def cut_one_way(self, frm: int, to: int) -> None:
        self._one_way.add((frm, to))
        self._update()

    def restore_one_way(self, frm: int, to: int) -> None:
        self._one_way.discard((frm, to))
        self._update()

    def heal_partition(self) -> None:
        self._split = set()
        self._update()

    def heal(self) -> None:
        self._split = set()
        self._one_way = set()
        self._update()

    def _update(self) -> None:
        self.cut = self._split | self._one_way
