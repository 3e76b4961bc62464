"""Log replication and the log matching property (paper 5.3), and the log's building blocks:
RaftLog, the unstable tail and MemoryStorage."""
import random

import pytest

from .network import Network, bootstrap_storage, flush, new_node, of_type, win_election
from petcd.stages.raft.core import Entry, Message, MessageType as MT, Snapshot, SnapshotMetadata
from petcd.stages.raft.core.errors import Compacted, RaftError, SnapshotOutOfDate, Unavailable
from petcd.stages.raft.core.log import RaftLog
from petcd.stages.raft.core.storage import MemoryStorage
from petcd.stages.raft.core.unstable import Unstable

PAPER = dict(pre_vote=False, check_quorum=False)


def ents(*terms, start=2):
    return [Entry(term=t, index=start + i) for i, t in enumerate(terms)]


def terms_of(entries):
    return [e.term for e in entries]


# -- replication (5.3) -----------------------------------------------------------------------

def test_leader_appends_a_proposal_to_its_log_in_its_term():
    node = new_node(1, **PAPER)
    win_election(node)
    node.propose(b"x")
    last = node.raft.log.last_index()
    assert node.raft.log.slice(last, last + 1) == [Entry(node.raft.term, last, data=b"x")]


def test_leader_sends_the_new_entry_with_the_preceding_index_and_term():
    node = new_node(1, **PAPER)
    win_election(node)
    for p in (2, 3):  # followers acknowledge the empty entry of the new term
        node.step(Message(type=MT.APP_RESP, to=1, frm=p, term=node.raft.term, index=2))
    flush(node)
    node.propose(b"x")
    apps = of_type(flush(node), MT.APP)
    assert sorted(m.to for m in apps) == [2, 3]
    for m in apps:
        assert (m.index, m.log_term) == (2, node.raft.term)
        assert [e.data for e in m.entries] == [b"x"]
        assert m.commit == 2


@pytest.mark.parametrize("prev_index, prev_term, accepted, resp_index, hint", [
    (1, 1, True, 1, None),      # matches the snapshot entry
    (2, 1, True, 2, None),
    (3, 2, True, 3, None),
    (3, 1, False, 3, 2),        # term mismatch at 3: our index 2 (term 1) may match
    (4, 2, False, 4, 3),        # beyond our log: hint our last index
])
def test_follower_rejects_an_append_whose_preceding_entry_does_not_match(
        prev_index, prev_term, accepted, resp_index, hint):
    node = new_node(1, storage=bootstrap_storage(terms=(1, 2), term=2), **PAPER)
    node.step(Message(type=MT.APP, to=1, frm=2, term=2, index=prev_index, log_term=prev_term))
    (resp,) = flush(node)
    assert resp.type == MT.APP_RESP
    assert resp.reject is not accepted
    assert resp.index == resp_index
    if not accepted:
        assert resp.reject_hint == hint


@pytest.mark.parametrize("prev_index, prev_term, new, want", [
    # follower log after the bootstrap entry: terms (1, 2) at indexes 2, 3
    (3, 2, [Entry(3, 4)], [1, 2, 3]),                  # plain append
    (2, 1, [Entry(3, 3), Entry(4, 4)], [1, 3, 4]),     # conflict at 3: cut and replace
    (1, 1, [], [1, 2]),                                # nothing new: nothing cut
    (1, 1, [Entry(1, 2)], [1, 2]),                     # an old prefix: nothing cut
    (1, 1, [Entry(4, 2)], [4]),                        # conflict at 2: everything after goes
])
def test_follower_deletes_conflicting_entries_and_appends_new_ones(
        prev_index, prev_term, new, want):
    node = new_node(1, storage=bootstrap_storage(terms=(1, 2), term=2), **PAPER)
    node.step(Message(type=MT.APP, to=1, frm=2, term=4, index=prev_index, log_term=prev_term,
                      entries=tuple(new)))
    flush(node)
    st = node.raft.log.storage
    assert terms_of(st.entries(2, st.last_index() + 1)) == want


def test_follower_replies_with_its_commit_index_to_an_append_below_it():
    node = new_node(1, storage=bootstrap_storage(terms=(1, 1), term=1, commit=3), **PAPER)
    node.step(Message(type=MT.APP, to=1, frm=2, term=1, index=2, log_term=1,
                      entries=(Entry(1, 3),)))
    (resp,) = flush(node)
    assert not resp.reject and resp.index == 3


# Figure 7 of the paper, indexes shifted by one: the bootstrap entry (1, 1) is index 1.
LEADER_TERMS = (1, 1, 4, 4, 5, 5, 6, 6, 6)
FOLLOWERS = {
    "a": (1, 1, 4, 4, 5, 5, 6, 6),
    "b": (1, 1, 4),
    "c": (1, 1, 4, 4, 5, 5, 6, 6, 6, 6),
    "d": (1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7),
    "e": (1, 1, 4, 4, 4, 4),
    "f": (1, 1, 2, 2, 2, 3, 3, 3, 3, 3),
}


@pytest.mark.parametrize("name", sorted(FOLLOWERS))
def test_leader_brings_a_divergent_follower_log_into_line_with_its_own(name):
    lead = bootstrap_storage(terms=LEADER_TERMS, term=8, commit=1 + len(LEADER_TERMS))
    follower = bootstrap_storage(terms=FOLLOWERS[name], term=7)
    net = Network(storages={1: lead, 2: follower}, **PAPER)  # voter 3 is a black hole
    net.nodes[1].campaign()
    net.stabilize()
    net.send(Message(type=MT.VOTE_RESP, to=1, frm=3, term=9))
    net.propose(1, b"x")
    assert net.log(2) == net.log(1)
    assert net.log(1)[-1].data == b"x"


def test_logs_match_after_random_faults():
    # Log matching (paper figure 3): entries with the same index and term have identical
    # prefixes on every node.
    rng = random.Random(11)
    net = Network(voters=(1, 2, 3, 4, 5), **PAPER)
    for _ in net.run_random_faults(rng, 400):
        pass
    logs = {i: {(e.index, e.term): k for k, e in enumerate(net.log(i))} for i in net.nodes}
    for a in net.nodes:
        for b in net.nodes:
            common = logs[a].keys() & logs[b].keys()
            for key in common:
                k = logs[a][key]
                assert net.log(a)[:k + 1] == net.log(b)[:logs[b][key] + 1]
    assert max(len(net.log(i)) for i in net.nodes) > 10


# -- RaftLog ---------------------------------------------------------------------------------

def raft_log(*terms, committed=1):
    st = bootstrap_storage(terms=terms)
    log = RaftLog(st)
    log.committed = committed
    return log


def test_log_term_of_a_compacted_or_missing_index_is_zero():
    log = raft_log(1, 2)
    assert log.term(0) == 0
    assert log.term(1) == 1
    assert log.term(3) == 2
    assert log.term(4) == 0


@pytest.mark.parametrize("new, conflict", [
    ([], 0),
    (ents(1, 2), 0),                   # all present
    (ents(2, start=3), 0),
    (ents(1, 2, 3), 4),                # new entry at 4
    (ents(2, 3, start=3), 4),
    (ents(3, start=3), 3),             # term differs at 3
    (ents(4, 4, 4), 2),
])
def test_find_conflict_returns_the_first_new_or_differing_index(new, conflict):
    assert raft_log(1, 2).find_conflict(new) == conflict


def test_maybe_append_refuses_when_the_preceding_entry_does_not_match():
    log = raft_log(1, 2)
    assert log.maybe_append(3, 1, 3, ents(3, start=4)) is None
    assert log.last_index() == 3


def test_maybe_append_commits_only_up_to_the_last_new_entry():
    log = raft_log(1, 2)
    assert log.maybe_append(2, 1, 10, ents(2, start=3)) == 3
    assert log.committed == 3


def test_overwriting_a_committed_entry_is_a_safety_error():
    log = raft_log(1, 2, committed=3)
    with pytest.raises(RaftError):
        log.maybe_append(2, 1, 3, ents(5, start=3))


def test_commit_index_never_moves_backwards():
    log = raft_log(1, 2, committed=3)
    log.commit_to(2)
    assert log.committed == 3


def test_find_conflict_by_term_skips_back_over_a_whole_term():
    log = raft_log(1, 2, 2, 2, 5, 5)
    assert log.find_conflict_by_term(7, 4) == (5, 2)
    assert log.find_conflict_by_term(7, 1) == (2, 1)
    assert log.find_conflict_by_term(7, 5) == (7, 5)


def test_slice_below_the_first_index_raises_compacted():
    st = bootstrap_storage(terms=(1, 1, 1))
    st.compact(3)
    log = RaftLog(st)
    with pytest.raises(Compacted):
        log.slice(2, 4)
    assert terms_of(log.slice(4, 5)) == [1]


def test_slice_spans_storage_and_the_unstable_tail():
    log = raft_log(1, 2)
    log.append(ents(3, 3, start=4))
    assert [e.index for e in log.slice(2, 6)] == [2, 3, 4, 5]
    assert terms_of(log.slice(3, 6)) == [2, 3, 3]


def test_slice_respects_max_bytes_but_returns_at_least_one_entry():
    log = raft_log()
    log.append([Entry(1, 2, data=b"a" * 100), Entry(1, 3, data=b"b" * 100)])
    assert len(log.slice(2, 4, max_bytes=1)) == 1
    assert len(log.slice(2, 4, max_bytes=10_000)) == 2


def test_is_up_to_date_compares_last_term_then_length():
    log = raft_log(1, 2)
    assert log.is_up_to_date(3, 2)
    assert log.is_up_to_date(2, 3)
    assert not log.is_up_to_date(9, 1)
    assert not log.is_up_to_date(2, 2)


def test_committed_entries_wait_until_they_are_durable_locally():
    log = raft_log()
    log.append(ents(1, 1))
    log.commit_to(3)
    assert log.next_committed_ents() == []
    log.storage.append(ents(1, 1))
    log.stable_to(3, 1)
    assert [e.index for e in log.next_committed_ents()] == [2, 3]


# -- Unstable --------------------------------------------------------------------------------

def test_unstable_entries_are_handed_out_once():
    u = Unstable(2)
    u.truncate_and_append(ents(1, 1))
    assert len(u.next_entries()) == 2
    u.accept_in_progress()
    assert u.next_entries() == []


def test_stable_to_drops_entries_known_durable():
    u = Unstable(2)
    u.truncate_and_append(ents(1, 1, 1))
    u.accept_in_progress()
    u.stable_to(3, 1)
    assert u.offset == 4
    assert [e.index for e in u.entries] == [4]


def test_stable_to_ignores_an_ack_for_entries_that_were_overwritten():
    u = Unstable(2)
    u.truncate_and_append(ents(1, 1))
    u.accept_in_progress()
    u.truncate_and_append(ents(2, start=3))      # a new leader replaced index 3
    u.stable_to(3, 1)                            # the ack for the old entry arrives
    assert u.offset == 2
    assert u.maybe_term(3) == 2


def test_overwritten_in_progress_entries_are_handed_out_again():
    u = Unstable(2)
    u.truncate_and_append(ents(1, 1, 1))
    u.accept_in_progress()
    u.truncate_and_append(ents(2, start=3))
    assert [(e.index, e.term) for e in u.next_entries()] == [(3, 2)]


def test_restore_replaces_the_tail_with_a_snapshot():
    u = Unstable(2)
    u.truncate_and_append(ents(1, 1))
    snap = Snapshot(SnapshotMetadata(index=10, term=3))
    u.restore(snap)
    assert u.entries == [] and u.offset == 11
    assert u.maybe_term(10) == 3
    assert u.next_snapshot() is snap


# -- MemoryStorage ---------------------------------------------------------------------------

def storage(*terms):
    return bootstrap_storage(terms=terms)


def test_storage_indexes_start_after_the_snapshot():
    st = storage(1, 2)
    assert (st.first_index(), st.last_index()) == (2, 3)
    assert st.term(1) == 1  # the dummy entry answers for the snapshot index


def test_storage_raises_for_compacted_and_unavailable_indexes():
    st = storage(1, 2)
    with pytest.raises(Compacted):
        st.entries(1, 3)
    with pytest.raises(Compacted):
        st.term(0)
    with pytest.raises(Unavailable):
        st.term(4)
    with pytest.raises(Unavailable):
        st.entries(2, 5)


def test_storage_append_truncates_a_conflicting_suffix():
    st = storage(1, 1, 1)
    st.append(ents(2, start=3))
    assert terms_of(st.entries(2, st.last_index() + 1)) == [1, 2]


def test_storage_append_skips_the_compacted_prefix():
    st = storage(1, 1, 1)
    st.compact(3)
    st.append(ents(1, 1, 1, 2))
    assert st.first_index() == 4
    assert terms_of(st.entries(4, st.last_index() + 1)) == [1, 2]


def test_storage_refuses_an_append_with_a_gap():
    st = storage(1)
    with pytest.raises(Unavailable):
        st.append(ents(1, start=5))


def test_compact_keeps_the_term_of_the_compaction_point():
    st = storage(1, 2, 3)
    st.compact(3)
    assert st.first_index() == 4
    assert st.term(3) == 2
    with pytest.raises(Compacted):
        st.compact(3)


def test_create_snapshot_records_index_term_and_data():
    st = storage(1, 2, 3)
    snap = st.create_snapshot(3, None, b"state")
    assert (snap.metadata.index, snap.metadata.term, snap.data) == (3, 2, b"state")
    assert st.snapshot() is snap
    assert snap.metadata.conf_state.voters == (1, 2, 3)


def test_apply_snapshot_refuses_an_older_snapshot():
    st = storage(1, 2, 3)
    with pytest.raises(SnapshotOutOfDate):
        st.apply_snapshot(Snapshot(SnapshotMetadata(index=1, term=1)))


def test_apply_snapshot_discards_the_log():
    st = MemoryStorage()
    st.apply_snapshot(Snapshot(SnapshotMetadata(index=7, term=3)))
    assert (st.first_index(), st.last_index(), st.term(7)) == (8, 7, 3)


def test_leader_never_overwrites_its_own_log():
    # Leader append-only (paper figure 3): an append from a deposed leader is refused.
    node = new_node(1, storage=bootstrap_storage(terms=(1, 1), term=1), **PAPER)
    win_election(node)
    before = node.raft.log.all_entries()
    node.step(Message(type=MT.APP, to=1, frm=2, term=1, index=2, log_term=1,
                      entries=(Entry(1, 3, data=b"stale"),)))
    assert node.raft.log.all_entries() == before
