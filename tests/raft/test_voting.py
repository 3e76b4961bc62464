"""Voting: what a vote request carries and when a vote is granted (paper 5.2, 5.4.1)."""
import pytest

from .network import Network, bootstrap_storage, data_of, flush, new_node, of_type
from petcd.stages.raft.core import Message, MessageType as MT, StateType

PAPER = dict(pre_vote=False, check_quorum=False)


def test_vote_request_carries_the_candidates_last_log_index_and_term():
    node = new_node(1, storage=bootstrap_storage(terms=(1, 2, 2), term=2), **PAPER)
    node.campaign()
    for m in of_type(flush(node), MT.VOTE):
        assert (m.index, m.log_term, m.term) == (4, 2, 3)


@pytest.mark.parametrize("terms, cand_index, cand_term, granted", [
    # voter log after the bootstrap entry (1, 1): its last entry is what matters
    ((), 1, 1, True),           # same log
    ((), 2, 1, True),           # same last term, longer
    ((1,), 1, 1, False),        # same last term, shorter
    ((1,), 2, 1, True),
    ((1,), 3, 1, True),
    ((2,), 9, 1, False),        # lower last term loses, however long
    ((2,), 2, 2, True),
    ((2,), 1, 3, True),         # higher last term wins, however short
    ((2, 2), 2, 2, False),
])
def test_voter_grants_only_to_a_candidate_at_least_as_up_to_date(
        terms, cand_index, cand_term, granted):
    node = new_node(1, storage=bootstrap_storage(terms=terms, term=3), **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=4, index=cand_index, log_term=cand_term))
    (resp,) = flush(node)
    assert resp.type == MT.VOTE_RESP
    assert resp.reject is not granted


def test_rejection_carries_the_voters_term():
    node = new_node(1, storage=bootstrap_storage(terms=(2,), term=2), **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=5, index=1, log_term=1))
    (resp,) = flush(node)
    assert resp.reject and resp.term == 5  # the voter adopted the candidate's term first


def test_candidate_rejects_a_rival_in_its_own_term():
    node = new_node(1, **PAPER)
    node.campaign()
    flush(node)
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=node.raft.term, index=5, log_term=5))
    (resp,) = flush(node)
    assert resp.reject


def test_leader_rejects_a_vote_request_in_its_own_term():
    node = new_node(1, **PAPER)
    node.campaign()
    flush(node)
    node.step(Message(type=MT.VOTE_RESP, to=1, frm=2, term=node.raft.term))
    flush(node)
    node.step(Message(type=MT.VOTE, to=1, frm=3, term=node.raft.term, index=5, log_term=5))
    (resp,) = of_type(flush(node), MT.VOTE_RESP)
    assert resp.reject
    assert node.raft.state == StateType.LEADER


def test_vote_survives_a_restart():
    # Paper figure 2: votedFor is persistent state.
    storage = bootstrap_storage(term=1)
    node = new_node(1, storage=storage, **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=2, index=1, log_term=1))
    flush(node)
    restarted = new_node(1, storage=storage, **PAPER)
    restarted.step(Message(type=MT.VOTE, to=1, frm=3, term=2, index=1, log_term=1))
    (resp,) = flush(restarted)
    assert resp.reject
    assert restarted.raft.vote == 2


def test_a_new_term_clears_the_vote():
    node = new_node(1, storage=bootstrap_storage(term=2, vote=2), **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=3, term=3, index=1, log_term=1))
    (resp,) = flush(node)
    assert not resp.reject
    assert node.raft.vote == 3


def test_a_node_missing_committed_entries_cannot_become_leader():
    net = Network(**PAPER)
    net.elect(1)
    net.isolate(3)
    net.propose(1, b"committed")
    assert data_of(net.applied[1]) == [b"committed"]
    net.heal()
    net.cut(1, 3)  # 3 can reach 2 only, which holds the entry
    net.nodes[3].campaign()
    net.stabilize()
    assert net.state(3) != StateType.LEADER
    assert net.raft(2).vote != 3
