"""The leader's checks of a membership change, and the conf change it becomes.

Theory of operation. Only the leader's raft stage calls `check`, and only once every earlier
conf change is applied (the core keeps one pending at a time), so `members` (the table apply
last reported) is the table the change will be applied to. The checks, and their order, are
etcd 3.4's, which it makes in two places: the strict reconfiguration checks before proposing
(a change must not leave fewer started voters than a quorum, and the leader must have been
connected to every voter for `health_interval_s`; a learner is promoted only once its log
reaches `LEARNER_READY` of the leader's), then the table's checks at apply time (unknown or
removed id, id or peer URL taken, too many learners). A member counts as started once it has
published its name (etcd's IsStarted).

Pure: the caller gives the time, the progress of the followers, and the activity of peers.
"""
from __future__ import annotations

from petcd.common import codec
from petcd.common.errors import (
    ErrLearnerNotReady, ErrMemberExist, ErrMemberNotEnoughStarted, ErrMemberNotFound,
    ErrMemberNotLearner, ErrPeerURLExist, ErrTooManyLearners, ErrUnhealthy, EtcdError,
)
from petcd.common.membership import (
    MemberChangeAsk, MemberChangeContext, MemberChangeKind as Kind, Membership, PeerActivity,
)
from petcd.common.pipeline import MemberInfo
from petcd.common.types import ConfChange, ConfChangeType

# etcd's readyPercent: a learner whose log is at 90 % of the leader's may be promoted.
LEARNER_READY = 0.9


class Reconfig:
    def __init__(self, self_id: int, *, strict: bool = True, max_learners: int = 1,
                 health_interval_s: float = 5.0) -> None:
        self.self_id = self_id
        self.strict = strict
        self.max_learners = max_learners
        self.health_interval_s = health_interval_s
        self.members: dict[int, MemberInfo] = {}
        self.removed: frozenset[int] = frozenset()
        self.active_since: dict[int, float] = {}

    # -- what the stage learns ------------------------------------------------------------------

    def on_membership(self, m: Membership) -> None:
        self.members = {x.id: x for x in m.members}
        self.removed = frozenset(m.removed)

    def on_activity(self, a: PeerActivity, now: float) -> None:
        if a.active:
            self.active_since.setdefault(a.node_id, now)
        else:
            self.active_since.pop(a.node_id, None)

    # -- the checks -----------------------------------------------------------------------------

    def check(self, ask: MemberChangeAsk, matches: dict[int, int], now: float) -> EtcdError | None:
        """etcd's error for this change, or None if it may be proposed. `matches` is the
        leader's progress: node id -> match index."""
        m = ask.member
        kind = Kind(ask.kind)
        if kind == Kind.ADD:
            if self.strict:
                if not m.is_learner and not self._ready_to_add_voter():
                    return _copy(ErrMemberNotEnoughStarted)
                if not self._connected_to_all_voters(now):
                    return _copy(ErrUnhealthy)
            if m.id in self.removed:
                return _copy(ErrMemberNotFound)
            if m.id in self.members:
                return _copy(ErrMemberExist)
            taken = {u for x in self.members.values() for u in x.peer_urls}
            if taken & set(m.peer_urls):
                return _copy(ErrPeerURLExist)
            if m.is_learner and self._learners() + 1 > self.max_learners:
                return _copy(ErrTooManyLearners)
            return None
        if kind == Kind.REMOVE:
            if self.strict:
                err = self._may_remove(m.id, now)
                if err is not None:
                    return err
            return self._known(m.id)
        if kind == Kind.UPDATE:
            err = self._known(m.id)
            if err is not None:
                return err
            taken = {u for x in self.members.values() if x.id != m.id for u in x.peer_urls}
            return _copy(ErrPeerURLExist) if taken & set(m.peer_urls) else None
        # PROMOTE
        if m.id in matches and matches[m.id] < matches.get(self.self_id, 0) * LEARNER_READY:
            return _copy(ErrLearnerNotReady)
        if self.strict and not self._ready_to_promote():
            return _copy(ErrMemberNotEnoughStarted)
        err = self._known(m.id)
        if err is not None:
            return err
        return None if self.members[m.id].is_learner else _copy(ErrMemberNotLearner)

    def conf_change(self, ask: MemberChangeAsk) -> ConfChange:
        kind = Kind(ask.kind)
        if kind == Kind.ADD:
            type_ = (ConfChangeType.ADD_LEARNER_NODE if ask.member.is_learner
                     else ConfChangeType.ADD_NODE)
        else:
            type_ = {Kind.REMOVE: ConfChangeType.REMOVE_NODE,
                     Kind.UPDATE: ConfChangeType.UPDATE_NODE,
                     Kind.PROMOTE: ConfChangeType.ADD_NODE}[kind]
        context = MemberChangeContext(kind, ask.member, ask.request_id, ask.origin)
        return ConfChange(type_, ask.member.id, codec.encode(context))

    # -- etcd's strict reconfiguration rules ----------------------------------------------------

    def _voters(self) -> list[MemberInfo]:
        return [x for x in self.members.values() if not x.is_learner]

    def _learners(self) -> int:
        return sum(1 for x in self.members.values() if x.is_learner)

    def _ready_to_add_voter(self) -> bool:
        voters = self._voters()
        started = sum(1 for x in voters if x.name)
        total = len(voters) + 1
        if started == 1 and total == 2:
            return True  # etcd lets a lone member take a second one (restoring from backup)
        return started >= total // 2 + 1

    def _ready_to_promote(self) -> bool:
        # The learner counts as a voter and as started (etcd 3.4.23 does; older 3.4s did not).
        voters = self._voters()
        started = 1 + sum(1 for x in voters if x.name)
        return started >= (len(voters) + 1) // 2 + 1

    def _may_remove(self, member_id: int, now: float) -> EtcdError | None:
        target = self.members.get(member_id)
        if target is not None and target.is_learner:
            return None  # a learner is not in any quorum
        rest = [x for x in self._voters() if x.id != member_id]
        if sum(1 for x in rest if x.name) < len(rest) // 2 + 1:
            return _copy(ErrMemberNotEnoughStarted)
        if member_id != self.self_id and member_id not in self.active_since:
            return None  # a member that is down is not part of the active quorum
        voters = self._voters()
        active = self._connected_since(now - self.health_interval_s, voters)
        if active - 1 < 1 + (len(voters) - 1) // 2:
            return _copy(ErrUnhealthy)
        return None

    def _connected_to_all_voters(self, now: float) -> bool:
        voters = self._voters()
        return self._connected_since(now - self.health_interval_s, voters) == len(voters)

    def _connected_since(self, since: float, members: list[MemberInfo]) -> int:
        return sum(1 for x in members if x.id == self.self_id
                   or self.active_since.get(x.id, since + 1) <= since)

    def _known(self, member_id: int) -> EtcdError | None:
        if member_id in self.removed or member_id not in self.members:
            return _copy(ErrMemberNotFound)
        return None


def _copy(e: EtcdError) -> EtcdError:
    return EtcdError(e.code, e.message)
