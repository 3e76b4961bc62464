"""Commitment (paper 5.3, 5.4.2, figure 3's safety properties)."""
import random

import pytest

from .network import Network, bootstrap_storage, data_of, flush, new_node, of_type, win_election
from petcd.stages.raft.core import Entry, Message, MessageType as MT, StateType

PAPER = dict(pre_vote=False, check_quorum=False)


def ack(node, frm, index):
    node.step(Message(type=MT.APP_RESP, to=1, frm=frm, term=node.raft.term, index=index))


def elected(voters=(1, 2, 3), **storage_args):
    node = new_node(1, voters=voters, storage=bootstrap_storage(voters=voters, **storage_args),
                    **PAPER)
    win_election(node)
    return node


def test_leader_commits_an_entry_once_a_majority_stored_it():
    node = elected()
    node.propose(b"x")
    flush(node)
    last = node.raft.log.last_index()
    assert node.raft.log.committed < last
    ack(node, 2, last)
    assert node.raft.log.committed == last


@pytest.mark.parametrize("size, acceptors, committed", [
    (1, (), True),
    (3, (), False),
    (3, (2,), True),
    (3, (2, 3), True),
    (5, (2,), False),
    (5, (2, 3), True),
    (5, (2, 3, 4, 5), True),
])
def test_leader_commits_only_with_a_majority_of_acknowledgements(size, acceptors, committed):
    node = elected(voters=tuple(range(1, size + 1)))
    node.propose(b"x")
    flush(node)
    last = node.raft.log.last_index()
    for p in acceptors:
        ack(node, p, last)
    assert (node.raft.log.committed == last) is committed


def test_committing_an_entry_commits_every_entry_before_it():
    node = elected(terms=(1, 1, 2), term=2)
    node.propose(b"x")
    flush(node)
    last = node.raft.log.last_index()
    ack(node, 2, last)
    rd = node.ready()
    assert [e.index for e in rd.committed_entries] == list(range(2, last + 1))


def test_leader_only_counts_replicas_for_entries_of_its_own_term():
    node = elected(terms=(1, 2), term=2)  # now leader in term 3, empty entry at index 4
    assert node.raft.term == 3
    ack(node, 2, 3)  # index 3 (term 2) is on a majority now ...
    assert node.raft.log.committed == 1  # ... but not committed by counting (figure 8)
    ack(node, 2, 4)
    assert node.raft.log.committed == 4


def test_new_leader_appends_an_empty_entry_of_its_term():
    # Paper section 8: the leader learns what is committed by committing an entry of its term.
    node = elected(terms=(1, 1), term=1)
    last = node.raft.log.last_index()
    assert last == 4
    assert node.raft.log.term(last) == node.raft.term
    assert node.raft.log.slice(last, last + 1)[0].data == b""


def test_follower_commits_up_to_the_leaders_commit_index():
    node = new_node(1, **PAPER)
    node.step(Message(type=MT.APP, to=1, frm=2, term=2, index=1, log_term=1, commit=3,
                      entries=(Entry(2, 2), Entry(2, 3, data=b"x"))))
    assert node.raft.log.committed == 3


def test_follower_commits_no_further_than_the_last_entry_the_append_vouched_for():
    # Paper figure 2: commitIndex = min(leaderCommit, index of last new entry); what follows
    # in our log may be a stale leader's entries.
    node = new_node(1, storage=bootstrap_storage(terms=(1, 1, 1), term=1), **PAPER)
    node.step(Message(type=MT.APP, to=1, frm=2, term=2, index=1, log_term=1, commit=9,
                      entries=(Entry(1, 2),)))
    assert node.raft.log.committed == 2


def test_follower_applies_committed_entries_in_log_order():
    net = Network(**PAPER)
    net.elect(1)
    for d in (b"a", b"b", b"c"):
        net.propose(1, d)
    for i in net.nodes:
        assert data_of(net.applied[i]) == [b"a", b"b", b"c"]


def test_heartbeat_never_tells_a_follower_to_commit_past_what_it_holds():
    node = elected()
    node.propose(b"x")
    flush(node)
    last = node.raft.log.last_index()
    ack(node, 2, last)
    flush(node)
    node.tick()
    beats = {m.to: m.commit for m in of_type(flush(node), MT.HEARTBEAT)}
    assert beats == {2: last, 3: 0}


def test_state_machines_apply_the_same_sequence_under_random_faults():
    # State machine safety and leader completeness (paper figure 3).
    rng = random.Random(5)
    net = Network(voters=(1, 2, 3, 4, 5), **PAPER)
    for _ in net.run_random_faults(rng, 400):
        # every leader holds every entry any node has applied
        applied = max(net.applied.values(), key=len)
        for lead in net.leaders():
            log = net.raft(lead).log
            for e in applied:
                assert log.term(e.index) == e.term
    seqs = sorted(([(e.index, e.term) for e in a] for a in net.applied.values()), key=len)
    for shorter, longer in zip(seqs, seqs[1:]):
        assert longer[:len(shorter)] == shorter
    assert len(seqs[-1]) > 10


def test_a_committed_entry_survives_a_change_of_leader():
    net = Network(**PAPER)
    net.elect(1)
    net.propose(1, b"kept")
    net.isolate(1)
    net.elect(2)
    net.propose(2, b"next")
    assert data_of(net.applied[3]) == [b"kept", b"next"]
    assert net.state(2) == StateType.LEADER


def test_restarted_follower_keeps_its_log_and_catches_up():
    net = Network()
    net.elect(1)
    net.propose(1, b"a")
    before = net.log(2)
    net.isolate(2)
    net.propose(1, b"b")
    net.restart(2)
    assert net.raft(2).log.all_entries() == before
    net.heal()
    net.tick(1)
    assert net.log(2) == net.log(1)
    assert data_of(net.applied[2]) == [b"a", b"b"]
