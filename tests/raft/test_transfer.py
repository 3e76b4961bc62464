"""Leadership transfer (thesis 3.10)."""
import pytest

from .network import Network
from petcd.stages.raft.core import (
    CAMPAIGN_TRANSFER, NONE, MessageType as MT, ProposalDropped, StateType,
)

ET = 10


def cluster():
    net = Network()  # pre-vote and check-quorum on: the transfer must get past both
    net.elect(1)
    net.propose(1, b"x")
    return net


def test_caught_up_transferee_is_told_to_campaign_at_once():
    net = cluster()
    net.hold_if.append(lambda m: m.type == MT.TIMEOUT_NOW)
    net.nodes[1].transfer_leader(2)
    net.stabilize()
    (m,) = net.held
    assert m.to == 2 and m.term == net.term(1)


def test_transferee_wins_without_pre_vote_despite_the_lease():
    net = cluster()
    term = net.term(1)
    net.nodes[1].transfer_leader(2)
    net.stabilize()
    assert net.state(2) == StateType.LEADER
    assert net.term(2) == term + 1
    assert net.sent_of(MT.PRE_VOTE, frm=2) == []
    assert all(m.context == CAMPAIGN_TRANSFER for m in net.sent_of(MT.VOTE, frm=2))


def test_lagging_transferee_is_caught_up_before_it_is_told_to_campaign():
    net = cluster()
    net.isolate(3)
    net.propose(1, b"y")
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    assert net.sent_of(MT.TIMEOUT_NOW) == []
    net.heal()
    net.tick(1)
    assert net.state(3) == StateType.LEADER
    assert net.log(3) == net.log(1)[:len(net.log(3))]


def test_proposals_are_dropped_during_a_transfer():
    net = cluster()
    net.isolate(3)
    net.nodes[1].transfer_leader(3)
    with pytest.raises(ProposalDropped) as e:
        net.nodes[1].propose(b"z")
    assert e.value.reason == ProposalDropped.TRANSFERRING


def test_transfer_is_abandoned_after_an_election_timeout():
    net = cluster()
    net.isolate(3)
    net.nodes[1].transfer_leader(3)
    net.heal()
    net.cut(1, 3)
    net.tick(1, times=ET)
    assert net.raft(1).lead_transferee == NONE
    assert net.state(1) == StateType.LEADER
    net.propose(1, b"accepted again")


def test_a_new_transfer_replaces_a_pending_one():
    net = cluster()
    net.isolate(3)
    net.nodes[1].transfer_leader(3)
    net.heal()
    net.nodes[1].transfer_leader(2)
    net.stabilize()
    assert net.state(2) == StateType.LEADER


def test_transfer_to_the_leader_itself_is_a_no_op():
    net = cluster()
    net.nodes[1].transfer_leader(1)
    net.stabilize()
    assert net.raft(1).lead_transferee == NONE
    net.propose(1, b"fine")


def test_transfer_to_a_non_member_is_ignored():
    net = cluster()
    net.nodes[1].transfer_leader(9)
    assert net.raft(1).lead_transferee == NONE


def test_follower_forwards_a_transfer_request_to_the_leader():
    net = cluster()
    net.nodes[3].transfer_leader(3)
    net.stabilize()
    assert net.state(3) == StateType.LEADER


def test_transfer_on_stop_picks_the_most_caught_up_voter():
    net = cluster()
    net.isolate(2)
    net.propose(1, b"only 3 has this")
    net.heal()
    assert net.nodes[1].transfer_leadership_on_stop() == 3
    net.stabilize()
    assert net.state(3) == StateType.LEADER


def test_transfer_on_stop_does_nothing_on_a_follower():
    net = cluster()
    assert net.nodes[2].transfer_leadership_on_stop() == NONE
