"""Membership changes in the raft stage: asks in, conf changes or refusals out.

Theory of operation. An ask (common/membership.py) from a local api worker is handled here if
this member leads, else forwarded once to the leader through transport. The leader takes an
ask only when no conf change is pending (every earlier one applied, so reconfig.Reconfig
checks against the right table); until then it waits in `deferred` and is taken again after
each report from apply. A checked ask is proposed as a conf change; a refused one goes back to
the asking member as MemberChangeRefused, which becomes an error result for its api worker. An
ask that finds no leader, or a leader that lost its leadership while the ask waited, is
refused with code 0: the worker asks again until its deadline (nothing was proposed).
"""
from __future__ import annotations

import dataclasses
from collections import deque

from petcd.common.membership import MemberChangeAsk, MemberChangeRefused
from petcd.common.pipeline import ApplyResult, ProposalFailed
from petcd.ipc.pipes import worker_topic
from petcd.stages.raft.core import ProposalDropped, StateType
from .node import RaftNode
from .reconfig import Reconfig

MAX_DEFERRED_ASKS = 1_000   # beyond this the oldest are refused; their askers ask again


class MemberRouter:
    def __init__(self, node: RaftNode, reconfig: Reconfig, sendc, readc) -> None:
        self.node = node
        self.reconfig = reconfig
        self.sendc = sendc
        self.readc = readc
        self.deferred: deque[MemberChangeAsk] = deque()

    def ask(self, a: MemberChangeAsk, now: float, forwarded: bool = False) -> None:
        r = self.node.rawnode.raft
        if r.state != StateType.LEADER:
            if not forwarded and r.lead and r.lead != self.node.node_id:
                self.sendc.send(dataclasses.replace(a, to=r.lead))
            else:
                self._refuse(a, 0, "no leader")
            return
        if r.pending_conf_index > r.log.applied:
            if len(self.deferred) >= MAX_DEFERRED_ASKS:
                self._refuse(self.deferred.popleft(), 0, "too many membership changes waiting")
            self.deferred.append(a)
            return
        matches = {i: pr.match for i, pr in r.tracker.progress.items()}
        err = self.reconfig.check(a, matches, now)
        if err is not None:
            self._refuse(a, int(err.code), err.message)
            return
        try:
            self.node.rawnode.propose_conf_change(self.reconfig.conf_change(a))
        except ProposalDropped as e:  # a leadership transfer, say: ask again later
            self._refuse(a, 0, e.reason)

    def on_applied(self, now: float) -> None:
        """apply reported more: the asks that waited for a pending change may go now."""
        waiting, self.deferred = self.deferred, deque()
        for a in waiting:
            self.ask(a, now, forwarded=True)

    def refused(self, ans: MemberChangeRefused) -> None:
        """Deliver a refusal to the asking api worker (on this member or another)."""
        if ans.origin != self.node.node_id:
            self.sendc.send(dataclasses.replace(ans, to=ans.origin))
        elif ans.code == 0:
            self.readc.send(ProposalFailed(ans.request_id, ans.message),
                            topic=worker_topic(ans.worker))
        else:
            self.readc.send(ApplyResult(ans.request_id, None, ans.code, ans.message),
                            topic=worker_topic(ans.worker))

    def _refuse(self, a: MemberChangeAsk, code: int, message: str) -> None:
        self.refused(MemberChangeRefused(a.origin, a.worker, a.request_id, code, message))
