"""The membership as the leader tracks it: voters, learners, their progress, and votes.

Theory of operation: `voters` decide elections and commitment; `learners` only replicate
(thesis 4.2.1). Every member, voter or learner, has a Progress. Votes are recorded per election
and reset on every term change.
"""
from __future__ import annotations

from petcd.common.types import ConfState
from .progress import Inflights, Progress
from .quorum import VoteResult, committed_index, majority, vote_result


class ProgressTracker:
    __slots__ = ("voters", "learners", "progress", "votes", "max_inflight", "max_inflight_bytes")

    def __init__(self, max_inflight: int, max_inflight_bytes: int = 0) -> None:
        self.voters: frozenset[int] = frozenset()
        self.learners: frozenset[int] = frozenset()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.max_inflight = max_inflight
        self.max_inflight_bytes = max_inflight_bytes

    def conf_state(self) -> ConfState:
        return ConfState(voters=tuple(sorted(self.voters)), learners=tuple(sorted(self.learners)))

    def new_progress(self, next_index: int, is_learner: bool) -> Progress:
        return Progress(next_index, Inflights(self.max_inflight, self.max_inflight_bytes),
                        is_learner)

    def set_config(self, voters: frozenset[int], learners: frozenset[int],
                   next_index: int) -> None:
        """Switch to a new membership, keeping the progress of members that stay."""
        self.voters = frozenset(voters)
        self.learners = frozenset(learners)
        members = self.voters | self.learners
        for node_id in list(self.progress):
            if node_id not in members:
                del self.progress[node_id]
        for node_id in members:
            pr = self.progress.get(node_id)
            if pr is None:
                pr = self.new_progress(next_index, node_id in self.learners)
                # A new member counts as active, or check-quorum could depose the leader before
                # the newcomer had a chance to answer (etcd does the same).
                pr.recent_active = True
                self.progress[node_id] = pr
            else:
                pr.is_learner = node_id in self.learners

    def is_singleton(self) -> bool:
        return len(self.voters) == 1

    def committed(self) -> int:
        progress = self.progress
        return committed_index(self.voters, {v: progress[v].match for v in self.voters})

    def quorum_active(self, self_id: int) -> bool:
        active = sum(1 for v in self.voters
                     if v == self_id or self.progress[v].recent_active)
        return active >= majority(len(self.voters))

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node_id: int, granted: bool) -> None:
        self.votes.setdefault(node_id, granted)

    def tally_votes(self) -> tuple[int, int, VoteResult]:
        granted = sum(1 for v in self.voters if self.votes.get(v) is True)
        rejected = sum(1 for v in self.voters if self.votes.get(v) is False)
        return granted, rejected, vote_result(self.voters, self.votes)
