"""Check-quorum and the leader lease (thesis 6.2 and 4.2.3)."""
from .network import Network, flush, new_node, win_election
from petcd.stages.raft.core import CAMPAIGN_TRANSFER, Message, MessageType as MT, StateType

CHECK = dict(check_quorum=True, pre_vote=False)
ET = 10  # election_ticks


def test_isolated_leader_steps_down_within_an_election_timeout_of_silence():
    net = Network(**CHECK)
    net.elect(1)
    net.isolate(1)
    net.tick(1, times=ET - 1)
    assert net.state(1) == StateType.LEADER
    net.tick(1, times=ET + 1)
    assert net.state(1) == StateType.FOLLOWER
    assert net.raft(1).lead == 0


def test_leader_that_hears_a_quorum_stays_leader():
    net = Network(**CHECK)
    net.elect(1)
    net.isolate(3)
    net.tick(1, 2, times=5 * ET)
    assert net.state(1) == StateType.LEADER


def test_without_check_quorum_an_isolated_leader_stays_leader():
    net = Network(check_quorum=False, pre_vote=False)
    net.elect(1)
    net.isolate(1)
    net.tick(1, times=5 * ET)
    assert net.state(1) == StateType.LEADER


def follower_with_leader(**cfg):
    node = new_node(1, **{**CHECK, **cfg})
    node.step(Message(type=MT.HEARTBEAT, to=1, frm=2, term=2))
    flush(node)
    return node


def test_follower_in_lease_ignores_a_vote_request_of_a_higher_term():
    node = follower_with_leader()
    node.step(Message(type=MT.VOTE, to=1, frm=3, term=3, index=1, log_term=1))
    assert node.raft.term == 2
    assert node.raft.lead == 2
    assert flush(node) == []


def test_follower_in_lease_ignores_a_pre_vote_request_too():
    node = follower_with_leader(pre_vote=True)
    node.step(Message(type=MT.PRE_VOTE, to=1, frm=3, term=3, index=1, log_term=1))
    assert flush(node) == []


def test_vote_request_for_a_leadership_transfer_bypasses_the_lease():
    node = follower_with_leader()
    node.step(Message(type=MT.VOTE, to=1, frm=3, term=3, index=1, log_term=1,
                      context=CAMPAIGN_TRANSFER))
    (resp,) = flush(node)
    assert resp.type == MT.VOTE_RESP and not resp.reject
    assert node.raft.term == 3 and node.raft.vote == 3


def test_follower_votes_again_once_the_lease_has_expired():
    node = follower_with_leader()
    node.raft.randomized_election_timeout = 1000  # keep it from campaigning itself
    for _ in range(ET):
        node.tick()
    node.step(Message(type=MT.VOTE, to=1, frm=3, term=3, index=1, log_term=1))
    (resp,) = flush(node)
    assert not resp.reject


def test_leader_in_lease_ignores_a_disruptive_vote_request():
    node = new_node(1, **CHECK)
    win_election(node)
    term = node.raft.term
    node.step(Message(type=MT.VOTE, to=1, frm=3, term=term + 1, index=99, log_term=99))
    assert node.raft.state == StateType.LEADER
    assert node.raft.term == term


def test_stuck_candidate_with_a_higher_term_is_freed_after_rejoining():
    # Without pre-vote, an isolated node keeps raising its term. On return the lease makes the
    # others ignore its votes, but its reply to the leader's heartbeat reveals the term, the
    # leader steps down, and the cluster converges on one leader again.
    net = Network(**CHECK)
    net.elect(1)
    net.isolate(3)
    net.tick(3, times=5 * ET)
    stuck_term = net.term(3)
    assert stuck_term > net.term(1)
    net.heal()
    net.tick(times=6 * ET)
    assert len(net.leaders()) == 1
    lead = net.leaders()[0]
    assert net.term(lead) > stuck_term
    assert all(net.raft(i).lead == lead for i in net.nodes)
