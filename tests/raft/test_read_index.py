"""ReadIndex: linearizable reads without writing to the log (thesis 6.4)."""
import pytest

from .network import Network, flush, new_node, of_type, win_election
from petcd.stages.raft.core import (
    Message, MessageType as MT, ProposalDropped, ReadOnlyOption, ReadState,
)


def leader(voters=(1, 2, 3), commit_own_entry=True, **cfg):
    node = new_node(1, voters=voters, **cfg)
    win_election(node)
    if commit_own_entry:
        for p in voters[1:]:
            node.step(Message(type=MT.APP_RESP, to=1, frm=p, term=node.raft.term,
                              index=node.raft.log.last_index()))
        flush(node)
        assert node.raft.log.committed == node.raft.log.last_index()
    return node


def heartbeat_ack(node, frm, ctx):
    node.step(Message(type=MT.HEARTBEAT_RESP, to=1, frm=frm, term=node.raft.term, context=ctx))


def test_single_node_answers_a_read_at_once():
    node = leader(voters=(1,))
    node.read_index(b"r")
    rd = node.ready()
    assert rd.read_states == [ReadState(index=node.raft.log.committed, request_ctx=b"r")]
    assert rd.messages == []


def test_leader_confirms_a_read_with_a_heartbeat_round_first():
    node = leader()
    node.read_index(b"r")
    rd = node.ready()
    assert rd.read_states == []
    beats = of_type(rd.messages, MT.HEARTBEAT)
    assert sorted(m.to for m in beats) == [2, 3]
    assert all(m.context == b"r" for m in beats)


def test_read_is_answered_once_a_quorum_acknowledged_the_heartbeat():
    node = leader()
    committed = node.raft.log.committed
    node.read_index(b"r")
    node.ready()
    heartbeat_ack(node, 3, b"r")
    assert node.ready().read_states == [ReadState(index=committed, request_ctx=b"r")]


def test_read_is_not_answered_without_a_quorum():
    node = leader(voters=(1, 2, 3, 4, 5))
    node.read_index(b"r")
    node.ready()
    heartbeat_ack(node, 2, b"r")
    heartbeat_ack(node, 3, b"other")
    heartbeat_ack(node, 4, b"")
    assert node.ready().read_states == []


def test_reads_before_one_ready_share_one_heartbeat_round():
    node = leader()
    ctxs = [b"r%d" % i for i in range(10)]
    for ctx in ctxs:
        node.read_index(ctx)
    rd = node.ready()
    assert len(of_type(rd.messages, MT.HEARTBEAT)) == 2  # one per follower, not per read
    heartbeat_ack(node, 2, rd.messages[0].context)
    assert [s.request_ctx for s in node.ready().read_states] == ctxs


def test_a_read_queued_after_a_round_started_waits_for_the_next_round():
    node = leader()
    node.read_index(b"early")
    node.ready()
    node.read_index(b"late")
    heartbeat_ack(node, 2, b"early")
    rd = node.ready()
    assert [s.request_ctx for s in rd.read_states] == [b"early"]
    assert {m.context for m in of_type(rd.messages, MT.HEARTBEAT)} == {b"late"}
    heartbeat_ack(node, 2, b"late")
    assert [s.request_ctx for s in node.ready().read_states] == [b"late"]


def test_new_leader_holds_reads_until_it_commits_an_entry_of_its_term():
    node = leader(commit_own_entry=False)
    node.read_index(b"r")
    rd = node.ready()
    assert rd.read_states == []
    assert not [m for m in rd.messages if m.context == b"r"]
    node.step(Message(type=MT.APP_RESP, to=1, frm=2, term=node.raft.term,
                      index=node.raft.log.last_index()))
    beats = of_type(node.ready().messages, MT.HEARTBEAT)
    assert {m.context for m in beats} == {b"r"}
    heartbeat_ack(node, 2, b"r")
    assert node.ready().read_states == [ReadState(node.raft.log.committed, b"r")]


def test_follower_forwards_a_read_to_the_leader_and_gets_a_read_state():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")
    net.nodes[2].read_index(b"f")
    net.stabilize()
    assert net.read_states[2] == [ReadState(index=net.raft(1).log.committed, request_ctx=b"f")]
    assert net.read_states[1] == []


def test_read_without_a_leader_is_dropped():
    node = new_node(1)
    with pytest.raises(ProposalDropped) as e:
        node.read_index(b"r")
    assert e.value.reason == ProposalDropped.NO_LEADER


def test_lease_based_read_is_answered_without_a_heartbeat_round():
    node = leader(read_only_option=ReadOnlyOption.LEASE_BASED, check_quorum=True)
    node.read_index(b"r")
    rd = node.ready()
    assert rd.read_states == [ReadState(node.raft.log.committed, b"r")]
    assert of_type(rd.messages, MT.HEARTBEAT) == []


def test_read_index_needs_a_context():
    node = leader(voters=(1,))
    with pytest.raises(ValueError):
        node.read_index(b"")
