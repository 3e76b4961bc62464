"""Ends has-leader watch streams once the member has been without a leader for a while.

Theory of operation: a client that opens a stream with has-leader metadata (HTTP header
`Grpc-Metadata-Hasleader: true`, or `require_leader` in a native stream's open frame) asks not
to be left waiting on a member cut off from its cluster (etcd issue #10819). A new such stream
is refused at once without a leader (the front ends check). An open one is ended by this monitor
as etcd's monitorLeader does (v3rpc/interceptor.go): the leader is checked once per election
timeout, and after `MAX_NO_LEADER_CHECKS` checks in a row without one, every has-leader stream
is ended with "etcdserver: no leader". etcd waits for several misses on purpose: reconnecting a
stream costs a client more than a short election does. Streams opened without the metadata keep
waiting, as in etcd.

`NoLeaderCount` is the pure part (a counter stepped by each check); `LeaderMonitor.run` is the
loop around it. Must never: end a stream that did not ask for it.
"""
from __future__ import annotations

import asyncio
from typing import Callable, Iterable

from petcd.common.errors import ErrNoLeader, EtcdError

MAX_NO_LEADER_CHECKS = 3  # etcd's maxNoLeaderCnt


class NoLeaderCount:
    def __init__(self, max_checks: int = MAX_NO_LEADER_CHECKS) -> None:
        self.max_checks = max_checks
        self.misses = 0

    def check(self, has_leader: bool) -> bool:
        """One periodic check; True when the has-leader streams must be ended now."""
        self.misses = 0 if has_leader else self.misses + 1
        return self.misses >= self.max_checks


def no_leader() -> EtcdError:
    return EtcdError(ErrNoLeader.code, ErrNoLeader.message)


class LeaderMonitor:
    def __init__(self, has_leader: Callable[[], bool], streams: Callable[[], Iterable],
                 election_timeout_s: float) -> None:
        """streams() -> the open WatchStreams (each with require_leader and abort())."""
        self.has_leader = has_leader
        self.streams = streams
        self.interval_s = election_timeout_s
        self.count = NoLeaderCount()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.count.check(self.has_leader()):
                for s in list(self.streams()):
                    if s.require_leader:
                        s.abort(no_leader())
