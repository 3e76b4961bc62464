"""Single-server membership changes (thesis 4.1)."""
import pytest

from .network import Network, bootstrap_storage, data_of, flush, new_node
from petcd.stages.raft.core import (
    ConfChange, ConfChangeType as CC, Entry, EntryType, MessageType as MT, ProposalDropped,
    StateType,
)

ET = 10


def change(net, node_id, type_, target):
    net.nodes[node_id].propose_conf_change(ConfChange(type_, target))
    net.stabilize()


def ready_cluster(**cfg):
    net = Network(**cfg)
    net.elect(1)
    net.propose(1, b"first")  # the leader has applied an entry of its term
    return net


def test_added_node_catches_up_from_nothing_and_applies_new_entries():
    net = ready_cluster()
    net.add(4)
    change(net, 1, CC.ADD_NODE, 4)
    net.propose(1, b"x")
    assert len(net.snapshots[4]) == 1  # it started empty: the log before it was a snapshot
    assert net.raft(4).tracker.voters == {1, 2, 3, 4}
    assert net.log(4)[-1].data == b"x"
    assert data_of(net.applied[4])[-1] == b"x"


def test_added_voter_counts_in_the_quorum():
    net = ready_cluster()
    net.add(4)
    change(net, 1, CC.ADD_NODE, 4)
    net.isolate(2)
    net.isolate(3)
    net.propose(1, b"x")  # 2 of 4 is no majority
    assert b"x" not in data_of(net.applied[1])
    net.heal()
    net.tick(1)
    assert b"x" in data_of(net.applied[1])


def test_a_second_change_is_refused_while_one_is_pending():
    net = ready_cluster()
    net.isolate(2)
    net.isolate(3)
    change(net, 1, CC.ADD_LEARNER_NODE, 4)  # cannot commit: stays pending
    with pytest.raises(ProposalDropped) as e:
        net.nodes[1].propose_conf_change(ConfChange(CC.ADD_LEARNER_NODE, 5))
    assert "pending" in e.value.reason


def test_a_change_is_accepted_once_the_pending_one_is_applied():
    net = ready_cluster()
    change(net, 1, CC.ADD_LEARNER_NODE, 4)
    change(net, 1, CC.ADD_LEARNER_NODE, 5)
    assert net.raft(1).tracker.learners == {4, 5}


@pytest.mark.parametrize("terms", [(1, 1), ()], ids=["earlier-terms-pending", "own-entry-only"])
def test_new_leader_refuses_changes_until_its_own_first_entry_is_applied(terms):
    # Ongaro's fix for single-server changes: a leader proposes a change only after an entry of
    # its own term committed, which also covers uncommitted entries of earlier terms (one may
    # be a change itself), and holds even when nothing of an earlier term is pending.
    net = Network(storages={i: bootstrap_storage(terms=terms, commit=1) for i in (1, 2, 3)})
    net.hold_if.append(lambda m: m.type == MT.APP_RESP)  # nothing can commit yet
    net.elect(1)
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose_conf_change(ConfChange(CC.ADD_LEARNER_NODE, 4))
    net.hold_if.clear()
    net.release()
    net.stabilize()
    change(net, 1, CC.ADD_LEARNER_NODE, 4)
    assert net.raft(1).tracker.learners == {4}


def test_removed_leader_steps_down():
    net = ready_cluster()
    change(net, 1, CC.REMOVE_NODE, 1)
    assert net.state(1) == StateType.FOLLOWER
    assert net.raft(2).tracker.voters == {2, 3}


def test_removed_leader_hands_leadership_to_a_remaining_voter():
    net = ready_cluster()
    change(net, 1, CC.REMOVE_NODE, 1)
    assert [m.frm for m in net.sent_of(MT.TIMEOUT_NOW)] == [1]
    (lead,) = net.leaders()
    assert lead in (2, 3)


def test_remaining_voters_elect_a_leader_after_the_leader_is_removed():
    net = ready_cluster()
    change(net, 1, CC.REMOVE_NODE, 1)
    net.tick(times=4 * ET)
    (lead,) = net.leaders()
    assert lead in (2, 3)
    net.propose(lead, b"y")
    assert data_of(net.applied[2])[-1] == b"y"


def test_removal_that_shrinks_the_quorum_commits_pending_entries_at_once():
    net = Network(voters=(1, 2))
    net.elect(1)
    net.propose(1, b"first")
    net.isolate(2)
    net.propose(1, b"x")  # needs 2, which is gone
    assert b"x" not in data_of(net.applied[1])
    net.nodes[1].apply_conf_change(ConfChange(CC.REMOVE_NODE, 2))
    net.stabilize()
    assert b"x" in data_of(net.applied[1])


def test_the_last_voter_cannot_be_removed():
    net = Network(voters=(1,))
    net.elect(1)
    net.propose(1, b"first")
    with pytest.raises(ProposalDropped):
        net.nodes[1].propose_conf_change(ConfChange(CC.REMOVE_NODE, 1))


def test_node_with_a_committed_but_unapplied_change_does_not_campaign():
    cc = Entry(1, 2, EntryType.CONF_CHANGE, ConfChange(CC.ADD_LEARNER_NODE, 4).encode())
    storage = bootstrap_storage(term=1, commit=2)
    storage.append([cc])
    node = new_node(1, storage=storage)
    node.campaign()
    assert node.raft.state == StateType.FOLLOWER
    flush(node)  # hands the entry out and reports it applied
    node.campaign()
    assert node.raft.state != StateType.FOLLOWER


def test_a_removed_node_that_missed_its_removal_does_not_disrupt_the_cluster():
    # Thesis 4.2.3: it times out and campaigns, but the lease makes the others ignore it.
    net = ready_cluster()
    term = net.term(1)
    net.isolate(3)
    change(net, 1, CC.REMOVE_NODE, 3)
    assert net.raft(3).tracker.voters == {1, 2, 3}  # 3 never heard of it
    net.heal()
    net.tick(times=5 * ET)
    assert net.sent_of(MT.PRE_VOTE, frm=3)  # it did try
    assert net.state(1) == StateType.LEADER
    assert net.term(1) == net.term(2) == term


def removed_leader_with_a_longer_log():
    """Leader 1 of voters (1, 2) has applied its own removal; 2 stored the change but has not
    heard it committed, and lacks the entry 1 appended after it."""
    net = Network(voters=(1, 2))
    net.elect(1)
    net.propose(1, b"first")
    net.hold_if.append(lambda m: m.type == MT.APP_RESP and m.frm == 2)
    change(net, 1, CC.REMOVE_NODE, 1)           # 2 stores it; its ack is held
    net.drop_if.append(lambda m: m.type == MT.APP and m.to == 2)
    net.propose(1, b"only on 1")                # the leader's log is now longer than 2's
    net.hold_if.clear()
    net.release()
    net.stabilize()                             # 1 learns the removal committed, applies it
    assert net.raft(1).tracker.voters == {2}
    assert net.raft(2).tracker.voters == {1, 2}  # 2 has not heard of the commit
    return net


def test_voters_that_missed_the_commit_of_the_leaders_removal_still_elect_a_leader():
    # The removed leader applies its removal as soon as it commits; a voter that has not heard
    # of the commit yet still needs the old leader's vote. If the old leader stepped down with
    # a longer log than that voter's, it would refuse that vote forever.
    net = removed_leader_with_a_longer_log()
    net.heal()
    net.tick(times=10 * ET)
    assert net.leaders() == [2]
    assert net.raft(2).tracker.voters == {2}
    assert data_of(net.applied[2])[-1] == b"only on 1"


def test_removed_leader_refuses_proposals_while_handing_off():
    net = removed_leader_with_a_longer_log()
    assert net.state(1) == StateType.LEADER  # 2 is not caught up yet
    with pytest.raises(ProposalDropped) as e:
        net.nodes[1].propose(b"x")
    assert e.value.reason == ProposalDropped.NOT_A_MEMBER


def test_removed_leader_does_not_answer_reads_on_its_own():
    # It is no longer a voter: another leader may already exist, so it must confirm with the
    # remaining voters like any leader of a multi-node cluster.
    net = removed_leader_with_a_longer_log()
    net.hold_if.append(lambda m: m.type == MT.HEARTBEAT_RESP)
    net.nodes[1].read_index(b"r")
    net.stabilize()
    assert net.read_states[1] == []
    net.hold_if.clear()
    net.release()
    net.stabilize()
    assert [s.request_ctx for s in net.read_states[1]] == [b"r"]


def test_removed_leader_retries_the_hand_off_after_an_election_timeout():
    net = removed_leader_with_a_longer_log()
    net.tick(times=2 * ET)  # 2 still gets no appends: the first hand-off times out
    assert net.state(1) == StateType.LEADER
    net.heal()
    net.tick(times=2 * ET)
    assert net.leaders() == [2]


def test_an_update_changes_neither_the_quorum_nor_the_progress():
    net = ready_cluster()
    before = {i: (p.match, p.next) for i, p in net.raft(1).tracker.progress.items()}
    change(net, 1, CC.UPDATE_NODE, 2)
    r = net.raft(1)
    assert r.tracker.voters == {1, 2, 3} and not r.tracker.learners
    # Progress was kept (a reset would have sent everyone back to probing).
    assert all(r.tracker.progress[i].match >= before[i][0] for i in before)
    net.propose(1, b"after")
    assert all(b"after" in data_of(net.applied[i]) for i in (1, 2, 3))
