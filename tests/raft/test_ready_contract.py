"""The asynchronous-persistence Ready contract (DESIGN.md sections 2 and 3, thesis 10.2.1).

A Ready's `messages` may leave at once; `persist_messages` only after its hard state, entries
and snapshot are durable. Responses that promise durability (votes, append acks, a leader's
acknowledgement of its own entries) are therefore persist_messages.
"""
from .network import bootstrap_storage, flush, new_node, of_type, persist, win_election
from petcd.stages.raft.core import Entry, Message, MessageType as MT, StateType

PAPER = dict(pre_vote=False, check_quorum=False)


def leader(voters=(1, 2, 3)):
    node = new_node(1, voters=voters, **PAPER)
    win_election(node)
    return node


def deliver_persisted(node, rd):
    persist(node.raft.log.storage, rd)
    for m in rd.persist_messages:
        if m.to == node.raft.id:
            node.step(m)


def append_from_leader(node, *entries, commit=1, term=2):
    node.step(Message(type=MT.APP, to=1, frm=2, term=term, index=entries[0].index - 1,
                      log_term=1 if entries[0].index == 2 else entries[0].term,
                      entries=entries, commit=commit))


def test_vote_response_waits_for_the_vote_to_be_persisted():
    node = new_node(1, **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=2, index=1, log_term=1))
    rd = node.ready()
    assert of_type(rd.messages, MT.VOTE_RESP) == []
    (resp,) = of_type(rd.persist_messages, MT.VOTE_RESP)
    assert resp.to == 2 and not resp.reject
    assert (rd.hard_state.term, rd.hard_state.vote) == (2, 2)


def test_append_response_waits_for_the_entries_to_be_persisted():
    node = new_node(1, **PAPER)
    append_from_leader(node, Entry(2, 2, data=b"x"))
    rd = node.ready()
    assert [e.data for e in rd.entries] == [b"x"]
    assert of_type(rd.messages, MT.APP_RESP) == []
    (resp,) = of_type(rd.persist_messages, MT.APP_RESP)
    assert resp.to == 2 and resp.index == 2


def test_candidate_vote_for_itself_is_a_persist_message():
    node = new_node(1, **PAPER)
    node.campaign()
    rd = node.ready()
    (own,) = of_type(rd.persist_messages, MT.VOTE_RESP)
    assert own.to == own.frm == 1
    assert rd.hard_state.vote == 1


def test_leader_sends_appends_before_persisting_its_own_entries():
    node = leader()
    node.step(Message(type=MT.APP_RESP, to=1, frm=2, term=node.raft.term, index=2))
    flush(node)
    node.propose(b"x")
    rd = node.ready()
    assert [e.data for e in rd.entries] == [b"x"]
    assert [m.to for m in of_type(rd.messages, MT.APP) if m.entries] == [2]


def test_leader_acknowledges_its_own_entries_only_after_persisting_them():
    node = leader()
    node.propose(b"x")
    rd = node.ready()
    (own,) = of_type(rd.persist_messages, MT.APP_RESP)
    assert own.to == own.frm == 1 and own.index == rd.entries[-1].index
    assert [m.to for m in of_type(rd.persist_messages, MT.STORAGE_APPEND_RESP)] == [1]


def test_leader_counts_itself_only_once_its_entry_is_durable():
    node = leader()
    node.propose(b"x")
    rd = node.ready()
    last = rd.entries[-1].index
    node.step(Message(type=MT.APP_RESP, to=1, frm=2, term=node.raft.term, index=last))
    assert node.raft.log.committed < last  # 2 of 3 would do, but our copy is not durable
    deliver_persisted(node, rd)
    assert node.raft.log.committed == last


def test_single_voter_commits_only_after_its_own_persist():
    node = leader(voters=(1,))
    node.propose(b"x")
    rd = node.ready()
    assert node.raft.log.committed < rd.entries[-1].index
    deliver_persisted(node, rd)
    assert [e.data for e in node.ready().committed_entries] == [b"x"]


def test_entries_are_handed_out_once():
    node = leader(voters=(1,))
    node.propose(b"x")
    assert node.ready().entries
    node.propose(b"y")
    assert [e.data for e in node.ready().entries] == [b"y"]


def test_committed_entries_are_handed_out_only_up_to_the_durable_index():
    node = new_node(1, **PAPER)
    append_from_leader(node, Entry(2, 2, data=b"x"), commit=2)
    assert node.raft.log.committed == 2
    rd = node.ready()
    assert rd.committed_entries == []
    deliver_persisted(node, rd)
    assert [e.data for e in node.ready().committed_entries] == [b"x"]


def test_committed_entries_are_handed_out_once():
    node = leader(voters=(1,))
    node.propose(b"x")
    deliver_persisted(node, node.ready())
    assert node.ready().committed_entries
    node.tick()
    assert not node.has_ready() or node.ready().committed_entries == []


def test_entries_overwritten_while_being_persisted_are_handed_out_again():
    node = new_node(1, **PAPER)
    append_from_leader(node, Entry(2, 2, data=b"old"), term=2)
    old = node.ready()
    # a new leader replaces index 2 before the first persist completes
    append_from_leader(node, Entry(3, 2, data=b"new"), term=3)
    new = node.ready()
    assert [(e.term, e.data) for e in new.entries] == [(3, b"new")]
    deliver_persisted(node, old)  # the late ack for the old entry must not stand for the new
    assert node.raft.log.unstable.entries == [Entry(3, 2, data=b"new")]
    deliver_persisted(node, new)
    assert node.raft.log.storage.entries(2, 3) == [Entry(3, 2, data=b"new")]


def test_hard_state_is_in_a_ready_only_when_it_changed():
    node = new_node(1, **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=2, index=1, log_term=1))
    assert node.ready().hard_state is not None
    node.step(Message(type=MT.HEARTBEAT, to=1, frm=2, term=2))
    assert node.ready().hard_state is None


def test_must_sync_for_new_entries():
    node = new_node(1, **PAPER)
    append_from_leader(node, Entry(2, 2))
    assert node.ready().must_sync


def test_must_sync_for_a_new_term_or_vote():
    node = new_node(1, **PAPER)
    node.step(Message(type=MT.VOTE, to=1, frm=2, term=2, index=1, log_term=1))
    assert node.ready().must_sync


def test_no_sync_needed_when_only_the_commit_index_changed():
    node = new_node(1, storage=bootstrap_storage(terms=(1,), term=2), **PAPER)
    node.step(Message(type=MT.HEARTBEAT, to=1, frm=2, term=2, commit=2))
    rd = node.ready()
    assert rd.hard_state is not None and rd.hard_state.commit == 2
    assert not rd.must_sync


def test_soft_state_is_in_a_ready_only_when_it_changed():
    node = new_node(1, **PAPER)
    node.campaign()
    assert node.ready().soft_state.raft_state == StateType.CANDIDATE
    node.step(Message(type=MT.VOTE_RESP, to=1, frm=2, term=node.raft.term, reject=True))
    assert node.ready().soft_state is None


def test_read_states_are_handed_out_once():
    node = leader(voters=(1,))
    node.read_index(b"r")
    assert node.ready().read_states
    node.tick()
    assert node.ready().read_states == []


def test_nothing_is_ready_once_everything_was_handled():
    node = leader()
    flush(node)
    assert not node.has_ready()


def test_restarted_node_hands_out_committed_entries_after_the_applied_index_only():
    storage = bootstrap_storage(terms=(1, 1, 1), term=1, commit=4)
    node = new_node(1, storage=storage, applied=3, **PAPER)
    rd = node.ready()
    assert [e.index for e in rd.committed_entries] == [4]
    assert rd.hard_state is None  # nothing changed since it was stored


def test_committed_entries_are_paged_by_max_committed_size_per_ready_bytes():
    node = new_node(1, voters=(1,), max_committed_size_per_ready_bytes=150, **PAPER)
    win_election(node)
    node.propose_batch([b"%d" % i * 100 for i in range(4)])
    deliver_persisted(node, node.ready())
    pages = []
    while node.has_ready():
        pages.append(node.ready().committed_entries)
    assert all(len(p) == 1 for p in pages)
    assert [e.data for p in pages for e in p] == [b"%d" % i * 100 for i in range(4)]
