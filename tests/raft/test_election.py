"""Leader election: Raft paper sections 5.1 (terms) and 5.2 (election).

These run the core as the paper describes it (no pre-vote, no check-quorum) unless a test says
otherwise; the thesis extensions have their own files.
"""
import random

import pytest

from .network import Network, bootstrap_storage, flush, new_node, of_type, win_election
from petcd.stages.raft.core import Message, MessageType as MT, NONE, StateType

PAPER = dict(pre_vote=False, check_quorum=False)


def candidate(node_id=1, **cfg):
    node = new_node(node_id, **{**PAPER, **cfg})
    node.campaign()
    flush(node)
    return node


def leader(node_id=1, **cfg):
    node = new_node(node_id, **{**PAPER, **cfg})
    win_election(node)
    return node


def follower(node_id=1, **cfg):
    return new_node(node_id, **{**PAPER, **cfg})


# -- 5.1: terms ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [follower, candidate, leader])
def test_node_adopts_a_higher_term_and_becomes_follower(make):
    node = make()
    higher = node.raft.term + 5
    node.step(Message(type=MT.APP, to=1, frm=2, term=higher, index=1, log_term=1))
    assert node.raft.term == higher
    assert node.raft.state == StateType.FOLLOWER
    assert node.raft.lead == 2


def test_message_with_a_stale_term_is_ignored():
    node = new_node(1, storage=bootstrap_storage(term=3), **PAPER)
    node.step(Message(type=MT.APP, to=1, frm=2, term=2, index=1, log_term=1,
                      entries=(), commit=1))
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=2, index=9, log_term=9))
    assert node.raft.term == 3
    assert node.raft.lead == NONE
    assert node.raft.vote == NONE
    assert flush(node) == []


# -- 5.2: election ---------------------------------------------------------------------------

def test_node_starts_as_follower():
    node = follower()
    assert node.raft.state == StateType.FOLLOWER
    assert node.raft.lead == NONE


def test_leader_sends_heartbeats_every_heartbeat_timeout():
    node = leader(heartbeat_ticks=2)
    node.tick()
    assert of_type(flush(node), MT.HEARTBEAT) == []
    node.tick()
    beats = of_type(flush(node), MT.HEARTBEAT)
    assert sorted(m.to for m in beats) == [2, 3]
    assert all(m.term == node.raft.term for m in beats)


def test_follower_starts_an_election_after_its_election_timeout():
    node = follower()
    term = node.raft.term
    for _ in range(2 * node.raft.config.election_ticks):
        node.tick()
    assert node.raft.state == StateType.CANDIDATE
    assert node.raft.term == term + 1
    assert node.raft.vote == 1


def test_candidate_asks_every_other_voter_for_its_vote():
    node = follower()
    node.campaign()
    votes = of_type(flush(node), MT.VOTE)
    assert sorted(m.to for m in votes) == [2, 3]
    assert all(m.term == node.raft.term for m in votes)


def test_candidate_starts_a_new_election_after_its_election_timeout():
    node = candidate()
    term = node.raft.term
    for _ in range(2 * node.raft.config.election_ticks):
        node.tick()
    assert node.raft.state == StateType.CANDIDATE
    assert node.raft.term == term + 1
    assert sorted(m.to for m in of_type(flush(node), MT.VOTE)) == [2, 3]


@pytest.mark.parametrize("size, grants, rejects, want", [
    (1, 0, 0, StateType.LEADER),
    (3, 1, 0, StateType.LEADER),
    (3, 2, 0, StateType.LEADER),
    (5, 2, 0, StateType.LEADER),
    (5, 4, 0, StateType.LEADER),
    (3, 0, 0, StateType.CANDIDATE),
    (5, 1, 0, StateType.CANDIDATE),
    (5, 1, 2, StateType.CANDIDATE),
    (3, 0, 2, StateType.FOLLOWER),
    (5, 1, 3, StateType.FOLLOWER),
])
def test_election_is_decided_by_a_majority_of_votes_in_one_round(size, grants, rejects, want):
    voters = tuple(range(1, size + 1))
    node = new_node(1, voters=voters, **PAPER)
    node.campaign()
    flush(node)  # our own vote counts once it is durable
    peers = iter(voters[1:])
    for granted, n in ((True, grants), (False, rejects)):
        for _ in range(n):
            node.step(Message(type=MT.VOTE_RESP, to=1, frm=next(peers), term=node.raft.term,
                              reject=not granted))
    assert node.raft.state == want


def test_candidate_does_not_count_its_own_vote_before_persisting_it():
    node = new_node(1, voters=(1,), **PAPER)
    node.campaign()
    assert node.raft.state == StateType.CANDIDATE
    flush(node)
    assert node.raft.state == StateType.LEADER


@pytest.mark.parametrize("voted_for, candidate_id, granted", [
    (NONE, 2, True),
    (NONE, 3, True),
    (2, 2, True),
    (3, 3, True),
    (2, 3, False),
    (3, 2, False),
])
def test_follower_votes_at_most_once_per_term_first_come_first_served(
        voted_for, candidate_id, granted):
    node = new_node(1, storage=bootstrap_storage(term=1, vote=voted_for), **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=candidate_id, term=1, index=1, log_term=1))
    (resp,) = flush(node)
    assert resp.type == MT.VOTE_RESP and resp.to == candidate_id
    assert resp.reject is not granted
    assert node.raft.vote == (candidate_id if granted else voted_for)


def test_a_granted_vote_resets_the_election_timer():
    node = new_node(1, storage=bootstrap_storage(term=2), **PAPER)
    for _ in range(5):
        node.tick()
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=2, index=1, log_term=1))
    assert node.raft.vote == 2
    assert node.raft.election_elapsed == 0


def test_candidate_steps_down_on_append_from_a_leader_of_its_term():
    node = candidate()
    node.step(Message(type=MT.APP, to=1, frm=2, term=node.raft.term, index=1, log_term=1))
    assert node.raft.state == StateType.FOLLOWER
    assert node.raft.lead == 2


def test_candidate_steps_down_on_append_from_a_leader_of_a_higher_term():
    node = candidate()
    term = node.raft.term + 1
    node.step(Message(type=MT.APP, to=1, frm=2, term=term, index=1, log_term=1))
    assert node.raft.state == StateType.FOLLOWER
    assert node.raft.term == term


def test_candidate_ignores_append_from_a_stale_leader():
    node = candidate()
    node.step(Message(type=MT.APP, to=1, frm=2, term=node.raft.term - 1, index=1, log_term=1))
    assert node.raft.state == StateType.CANDIDATE


def test_election_timeouts_are_randomized_in_one_to_two_election_timeouts():
    seen = set()
    for seed in range(200):
        node = new_node(1, rand=random.Random(seed), **PAPER)
        ticks = 0
        while node.raft.state == StateType.FOLLOWER:
            node.tick()
            ticks += 1
        seen.add(ticks)
    et = 10
    assert min(seen) >= et and max(seen) < 2 * et
    assert len(seen) > et // 2  # spread out, not one fixed value


def test_followers_rarely_time_out_together():
    # Paper 5.2: randomization makes it likely that a single server times out first.
    rounds, conflicts = 300, 0
    rng = random.Random(7)
    for _ in range(rounds):
        nodes = [new_node(i, rand=random.Random(rng.random()), **PAPER) for i in (1, 2, 3, 4, 5)]
        fired = []
        while not fired:
            for n in nodes:
                n.tick()
            fired = [n for n in nodes if n.raft.state == StateType.CANDIDATE]
        conflicts += len(fired) > 1
    assert conflicts / rounds < 0.3


def test_nodes_elect_one_leader_from_cold_by_ticking():
    net = Network(**PAPER)
    net.tick(times=40)
    assert len(net.leaders()) == 1
    lead = net.leaders()[0]
    assert all(net.raft(i).lead == lead for i in net.nodes)


def test_split_vote_is_resolved_by_a_later_election():
    net = Network(voters=(1, 2, 3, 4), **PAPER)
    # 1 and 3 campaign at once and each gets one other vote: nobody wins term 2.
    net.cut(1, 3)
    net.cut(2, 3)
    net.cut(1, 4)
    net.nodes[1].campaign()
    net.nodes[3].campaign()
    net.stabilize()
    assert net.leaders() == []
    net.heal()
    net.tick(times=60)
    assert len(net.leaders()) == 1
    assert net.term(net.leaders()[0]) > 2


def test_at_most_one_leader_per_term():
    # Election safety (paper figure 3), under random partitions and timeouts.
    rng = random.Random(3)
    net = Network(voters=(1, 2, 3, 4, 5), **PAPER)
    leaders_by_term = {}
    for _ in range(300):
        if rng.random() < 0.05:
            net.heal()
            for _ in range(rng.randrange(3)):
                net.isolate(rng.choice(list(net.nodes)))
        net.tick(times=1)
        for i in net.leaders():
            assert leaders_by_term.setdefault(net.term(i), i) == i
    assert len(leaders_by_term) > 1
