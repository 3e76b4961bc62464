"""Where a proposal goes: appended by the leader, forwarded by a follower, or dropped."""
import pytest

from .network import Network, data_of, new_node
from petcd.stages.raft.core import ProposalDropped, StateType


def test_follower_forwards_a_proposal_to_the_leader():
    net = Network()
    net.elect(1)
    net.propose(2, b"via 2")
    for i in net.nodes:
        assert data_of(net.applied[i]) == [b"via 2"]


def test_follower_without_a_leader_drops_a_proposal():
    node = new_node(1)
    with pytest.raises(ProposalDropped) as e:
        node.propose(b"x")
    assert e.value.reason == ProposalDropped.NO_LEADER


def test_candidate_drops_a_proposal():
    node = new_node(1, pre_vote=False)
    node.campaign()
    assert node.raft.state == StateType.CANDIDATE
    with pytest.raises(ProposalDropped) as e:
        node.propose(b"x")
    assert e.value.reason == ProposalDropped.NO_LEADER


def test_follower_drops_a_proposal_when_forwarding_is_disabled():
    net = Network(disable_proposal_forwarding=True)
    net.elect(1)
    with pytest.raises(ProposalDropped) as e:
        net.nodes[2].propose(b"x")
    assert e.value.reason == ProposalDropped.NOT_LEADER_NO_FORWARDING


def test_leader_drops_proposals_beyond_the_uncommitted_bound():
    net = Network(max_uncommitted_entries_bytes=100)
    net.elect(1)
    net.isolate(2)
    net.isolate(3)
    net.propose(1, b"a" * 60)
    with pytest.raises(ProposalDropped) as e:
        net.propose(1, b"b" * 60)
    assert e.value.reason == ProposalDropped.TOO_LARGE


def test_uncommitted_bound_frees_up_as_entries_commit():
    net = Network(max_uncommitted_entries_bytes=100)
    net.elect(1)
    for i in range(5):
        net.propose(1, b"%d" % i * 60)
    assert len(data_of(net.applied[1])) == 5
