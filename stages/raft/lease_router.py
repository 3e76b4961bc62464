"""Glue between the lessor and the rest of the member: questions in, answers and proposals out.

Theory of operation. A keep-alive or time-to-live question (`LeaseAsk`) from an api worker is
answered by the lessor if this member leads; otherwise it is forwarded once to the leader
through transport, whose answer (`LeaseAnswer`) comes back the same way and is handed to the
worker. Nothing is queued here: a question that finds no leader is dropped and the worker asks
again (as etcd's keep-alive retries until its deadline). A question from a worker that has
seen entries applied past what this lessor has heard of from apply waits in `deferred` until
apply's report catches up (`on_applied`): the lessor then knows every lease the client could
know of. On the leader, every tick turns
expired leases into revoke proposals and due checkpoints into checkpoint proposals; these are
ordinary entries with no client waiting (origin 0). Leadership changes promote or demote the
lessor after each turn.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from typing import Callable

from petcd.common import codec
from petcd.common.lease import LeaseAnswer, LeaseAsk, LeaseCheckpointRequest, LeaseRevokeRequest
from petcd.common.pipeline import InternalRequest
from petcd.ipc.pipes import worker_topic
from petcd.stages.raft.core import StateType
from .lessor import Lessor
from .node import RaftNode


MAX_DEFERRED_ASKS = 10_000   # beyond this the oldest are dropped; their askers ask again


class LeaseRouter:
    def __init__(self, node: RaftNode, lessor: Lessor, sendc, readc,
                 propose: Callable[[bytes], bool]) -> None:
        self.node = node
        self.lessor = lessor
        self.sendc = sendc
        self.readc = readc
        self.propose = propose
        self.deferred: deque[LeaseAsk] = deque(maxlen=MAX_DEFERRED_ASKS)

    def on_applied(self, now: float) -> None:
        """apply reported more: answer the questions that waited for it."""
        if not self.deferred:
            return
        waiting, self.deferred = self.deferred, deque(maxlen=MAX_DEFERRED_ASKS)
        for a in waiting:
            self.ask(a, now, forwarded=a.to == self.node.node_id)

    def follow_leadership(self, now: float, extend_s: float) -> None:
        leading = self.node.rawnode.raft.state == StateType.LEADER
        if leading and not self.lessor.primary:
            self.lessor.promote(now, extend_s)
        elif not leading and self.lessor.primary:
            self.lessor.demote()

    def ask(self, a: LeaseAsk, now: float, forwarded: bool = False) -> None:
        if self.lessor.primary:
            if a.min_index > self.node.rawnode.raft.log.applied:
                self.deferred.append(a)
                return
            if a.renew:
                ttl, granted = self.lessor.renew(a.lease_id, now)
            else:
                ttl, granted = self.lessor.time_to_live(a.lease_id, now)
            self.answer(LeaseAnswer(a.origin, a.worker, a.ctx, ttl, granted, to=a.origin))
            return
        lead = self.node.rawnode.raft.lead
        if not forwarded and lead and lead != self.node.node_id:
            self.sendc.send(dataclasses.replace(a, to=lead))

    def answer(self, ans: LeaseAnswer) -> None:
        if ans.origin == self.node.node_id:
            self.readc.send(ans, topic=worker_topic(ans.worker))
        else:
            self.sendc.send(dataclasses.replace(ans, to=ans.origin))

    def expire(self, now: float) -> None:
        if not self.lessor.primary:
            return
        for lease_id in self.lessor.expired(now):
            self.propose(codec.encode(InternalRequest(0, 0, LeaseRevokeRequest(lease_id))))
        for batch in self.lessor.checkpoints(now):
            self.propose(codec.encode(InternalRequest(0, 0, LeaseCheckpointRequest(batch))))
