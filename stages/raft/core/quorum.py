"""Majority arithmetic over a set of voters (paper 5.2 and 5.3).

Pure functions of a voter set and per-voter values. One membership change at a time is applied
(thesis 4.1), so a single majority config is enough: any two majorities of consecutive configs
overlap.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Iterable, Mapping


class VoteResult(IntEnum):
    PENDING = 0
    LOST = 1
    WON = 2


def majority(n: int) -> int:
    return n // 2 + 1


def committed_index(voters: Iterable[int], match: Mapping[int, int]) -> int:
    """The largest index that a majority of voters has acknowledged."""
    acked = sorted(match.get(v, 0) for v in voters)
    if not acked:
        return 0
    return acked[len(acked) - majority(len(acked))]


def vote_result(voters: Iterable[int], votes: Mapping[int, bool]) -> VoteResult:
    voters = list(voters)
    if not voters:
        return VoteResult.WON  # an empty config wins by convention (etcd does the same)
    granted = rejected = 0
    for v in voters:
        got = votes.get(v)
        if got is True:
            granted += 1
        elif got is False:
            rejected += 1
    q = majority(len(voters))
    if granted >= q:
        return VoteResult.WON
    if len(voters) - rejected >= q:
        return VoteResult.PENDING
    return VoteResult.LOST
