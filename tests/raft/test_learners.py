"""Learners (thesis 4.2.1): they replicate the log but neither vote nor count for commitment."""
import pytest

from .network import Network, data_of
from petcd.stages.raft.core import (
    ConfChange, ConfChangeType as CC, Message, MessageType as MT, ProposalDropped, StateType,
)

ET = 10


def test_learner_is_not_asked_for_its_vote():
    net = Network(voters=(1, 2, 3), learners=(4,))
    net.elect(1)
    assert [m for m in net.sent if m.type in (MT.VOTE, MT.PRE_VOTE) and m.to == 4] == []


def test_learner_never_campaigns():
    net = Network(voters=(1, 2, 3), learners=(4,))
    net.isolate(4)
    net.tick(4, times=10 * ET)
    assert net.state(4) == StateType.FOLLOWER
    assert net.sent_of(MT.PRE_VOTE, frm=4) == net.sent_of(MT.VOTE, frm=4) == []


def test_learner_ignores_timeout_now():
    net = Network(voters=(1, 2), learners=(3,))
    net.elect(1)
    net.send(Message(type=MT.TIMEOUT_NOW, to=3, frm=1, term=net.term(1)))
    assert net.state(3) == StateType.FOLLOWER
    assert net.state(1) == StateType.LEADER


def test_learner_receives_and_applies_the_log():
    net = Network(voters=(1, 2, 3), learners=(4,))
    net.elect(1)
    net.propose(1, b"x")
    assert net.log(4) == net.log(1)
    assert data_of(net.applied[4]) == [b"x"]


def test_learner_acknowledgement_does_not_count_for_commitment():
    net = Network(voters=(1, 2), learners=(3,))
    net.elect(1)
    net.isolate(2)
    net.propose(1, b"x")
    assert net.log(3)[-1].data == b"x"  # the learner holds it ...
    assert data_of(net.applied[1]) == []  # ... but that is no majority


def test_leadership_is_not_transferred_to_a_learner():
    net = Network(voters=(1, 2), learners=(3,))
    net.elect(1)
    net.nodes[1].transfer_leader(3)
    net.stabilize()
    assert net.sent_of(MT.TIMEOUT_NOW) == []
    assert net.raft(1).lead_transferee == 0


def test_promoted_learner_counts_for_commitment():
    net = Network(voters=(1, 2), learners=(3,))
    net.elect(1)
    net.nodes[1].propose_conf_change(ConfChange(CC.ADD_NODE, 3))
    net.stabilize()
    assert all(net.raft(i).tracker.voters == {1, 2, 3} for i in net.nodes)
    net.isolate(2)
    net.propose(1, b"x")
    assert data_of(net.applied[1]) == [b"x"]


def test_promoted_learner_can_be_elected():
    net = Network(voters=(1, 2), learners=(3,), check_quorum=False)
    net.elect(1)
    net.nodes[1].propose_conf_change(ConfChange(CC.ADD_NODE, 3))
    net.stabilize()
    net.elect(3)


def test_a_voter_cannot_be_demoted_to_learner():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")  # the leader applied its first entry: changes are allowed again
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose_conf_change(ConfChange(CC.ADD_LEARNER_NODE, 2))


def test_learner_heartbeat_ack_does_not_confirm_a_read():
    net = Network(voters=(1, 2, 3), learners=(4,))
    net.elect(1)
    net.propose(1, b"x")
    net.isolate(2)
    net.isolate(3)
    net.nodes[1].read_index(b"r")
    net.stabilize()
    assert [m.to for m in net.sent_of(MT.HEARTBEAT_RESP) if m.context == b"r"] == [1]
    assert net.read_states[1] == []
