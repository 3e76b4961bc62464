"""Pre-vote (thesis 9.6): a node first asks whether it could win, without touching terms."""
from .network import Network, bootstrap_storage, flush, new_node, of_type
from petcd.stages.raft.core import Message, MessageType as MT, StateType

PREVOTE = dict(pre_vote=True, check_quorum=False)


def test_pre_candidate_keeps_its_term_and_vote():
    node = new_node(1, storage=bootstrap_storage(term=4, vote=3), **PREVOTE)
    node.campaign()
    rd = node.ready()
    assert node.raft.state == StateType.PRE_CANDIDATE
    assert (node.raft.term, node.raft.vote) == (4, 3)
    assert rd.hard_state is None


def test_pre_vote_request_asks_for_the_next_term():
    node = new_node(1, storage=bootstrap_storage(terms=(2,), term=4), **PREVOTE)
    node.campaign()
    asks = of_type(flush(node), MT.PRE_VOTE)
    assert sorted(m.to for m in asks) == [2, 3]
    assert all((m.term, m.index, m.log_term) == (5, 2, 2) for m in asks)


def test_pre_candidate_campaigns_for_real_once_a_majority_would_vote():
    node = new_node(1, **PREVOTE)
    node.campaign()
    flush(node)
    node.step(Message(type=MT.PRE_VOTE_RESP, to=1, frm=2, term=2))
    assert node.raft.state == StateType.CANDIDATE
    assert node.raft.term == 2
    assert sorted(m.to for m in of_type(flush(node), MT.VOTE)) == [2, 3]


def test_pre_candidate_that_loses_returns_to_follower_in_the_same_term():
    node = new_node(1, **PREVOTE)
    node.campaign()
    flush(node)
    for p in (2, 3):
        node.step(Message(type=MT.PRE_VOTE_RESP, to=1, frm=p, term=1, reject=True))
    assert node.raft.state == StateType.FOLLOWER
    assert node.raft.term == 1


def test_granting_a_pre_vote_changes_neither_term_nor_vote():
    node = new_node(1, storage=bootstrap_storage(term=2, vote=3), **PREVOTE)
    node.step(Message(type=MT.PRE_VOTE, to=1, frm=2, term=3, index=1, log_term=1))
    rd = node.ready()
    (resp,) = rd.persist_messages
    assert resp.type == MT.PRE_VOTE_RESP and not resp.reject and resp.term == 3
    assert (node.raft.term, node.raft.vote) == (2, 3)
    assert rd.hard_state is None


def test_pre_vote_is_refused_to_a_candidate_with_a_stale_log():
    node = new_node(1, storage=bootstrap_storage(terms=(2,), term=2), **PREVOTE)
    node.step(Message(type=MT.PRE_VOTE, to=1, frm=2, term=3, index=1, log_term=1))
    (resp,) = flush(node)
    assert resp.reject
    assert node.raft.term == 2


def test_pre_vote_from_a_lower_term_is_refused_with_our_term():
    node = new_node(1, storage=bootstrap_storage(term=5), **PREVOTE)
    node.step(Message(type=MT.PRE_VOTE, to=1, frm=2, term=3, index=9, log_term=9))
    (resp,) = flush(node)
    assert resp.type == MT.PRE_VOTE_RESP and resp.reject and resp.term == 5


def test_a_rejoining_partitioned_node_does_not_disrupt_the_leader():
    net = Network(**PREVOTE)
    net.elect(1)
    term = net.term(1)
    net.isolate(3)
    net.propose(1, b"progress")  # the cluster moves on without 3
    net.tick(3, times=100)  # many election timeouts alone
    assert net.term(3) == term
    net.heal()
    net.tick(times=30)
    assert net.state(1) == StateType.LEADER
    assert {net.term(i) for i in net.nodes} == {term}


def test_without_pre_vote_a_rejoining_node_disrupts_the_leader():
    # The contrast that motivates pre-vote: keeps the test above honest.
    net = Network(pre_vote=False, check_quorum=False)
    net.elect(1)
    term = net.term(1)
    net.isolate(3)
    net.propose(1, b"progress")
    net.tick(3, times=100)
    net.heal()
    net.tick(times=30)
    assert net.term(1) > term


def test_stale_leader_learns_the_new_term_from_a_follower():
    # With pre-vote, nobody raises its term on its own; a stale leader that rejoins must still
    # be told the current term when it sends appends.
    net = Network(**PREVOTE)
    net.elect(1)
    net.isolate(1)
    net.elect(2)
    net.heal()
    net.nodes[1].propose(b"stale")
    net.stabilize()
    assert net.state(1) == StateType.FOLLOWER
    assert net.term(1) == net.term(2)


def test_pre_vote_elects_a_leader_from_cold():
    net = Network(**PREVOTE)
    net.tick(times=40)
    assert len(net.leaders()) == 1
    assert net.storages[net.leaders()[0]].hard_state.term == 2  # no term was wasted
