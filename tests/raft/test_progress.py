"""Per-follower flow control: Progress states, the inflight window, fast back-off."""
from .network import Network, bootstrap_storage, data_of, flush, new_node, of_type, win_election
from petcd.stages.raft.core import Message, MessageType as MT, ProgressState
from petcd.stages.raft.core.progress import Inflights, Progress


def progress(next_index=5, match=0, state=ProgressState.PROBE, max_inflight=3):
    pr = Progress(next_index, Inflights(max_inflight))
    pr.match = match
    if state == ProgressState.REPLICATE:
        pr.become_replicate()
    elif state == ProgressState.SNAPSHOT:
        pr.become_snapshot(10)
    return pr


# -- Inflights -------------------------------------------------------------------------------

def test_inflights_are_full_at_the_message_limit():
    ins = Inflights(2)
    ins.add(3, 10)
    assert not ins.full()
    ins.add(4, 10)
    assert ins.full()


def test_inflights_are_full_at_the_byte_limit():
    ins = Inflights(100, max_bytes=25)
    ins.add(3, 10)
    ins.add(4, 10)
    assert not ins.full()
    ins.add(5, 10)
    assert ins.full()


def test_free_le_releases_every_append_up_to_the_acknowledged_index():
    ins = Inflights(3)
    for i in (3, 5, 7):
        ins.add(i, 10)
    ins.free_le(5)
    assert ins.count() == 1 and ins.bytes == 10
    assert not ins.full()


# -- Progress --------------------------------------------------------------------------------

def test_probe_pauses_after_one_append_until_an_answer():
    pr = progress()
    pr.update_on_entries_send(2, 20, pr.next)
    assert pr.is_paused()
    assert pr.next == 5  # a probe does not move next optimistically
    pr.maybe_update(6)
    assert not pr.is_paused()


def test_replicate_moves_next_optimistically_and_fills_the_window():
    pr = progress(match=4, state=ProgressState.REPLICATE, max_inflight=2)
    pr.update_on_entries_send(2, 20, pr.next)
    assert pr.next == 7
    assert not pr.is_paused()
    pr.update_on_entries_send(1, 10, pr.next)
    assert pr.is_paused()


def test_snapshot_state_is_always_paused():
    assert progress(state=ProgressState.SNAPSHOT).is_paused()


def test_stale_rejection_is_ignored_in_replicate():
    pr = progress(match=6, state=ProgressState.REPLICATE)
    pr.update_on_entries_send(3, 30, pr.next)
    assert not pr.maybe_decr_to(5, 5)
    assert pr.next == 10


def test_rejection_in_replicate_rewinds_next_to_after_match():
    pr = progress(match=6, state=ProgressState.REPLICATE)
    pr.update_on_entries_send(3, 30, pr.next)
    assert pr.maybe_decr_to(8, 8)
    assert pr.next == 7


def test_rejection_in_probe_follows_the_hint_but_never_below_match():
    pr = progress(next_index=10, match=2)
    assert pr.maybe_decr_to(9, 4)
    assert pr.next == 5
    pr = progress(next_index=10, match=6)
    assert pr.maybe_decr_to(9, 1)
    assert pr.next == 7


def test_rejection_of_an_older_probe_is_ignored():
    pr = progress(next_index=10)
    assert not pr.maybe_decr_to(7, 3)
    assert pr.next == 10


def test_probe_after_snapshot_starts_past_the_snapshot():
    pr = progress(next_index=3, match=2, state=ProgressState.SNAPSHOT)
    pr.become_probe()
    assert pr.state == ProgressState.PROBE
    assert pr.next == 11


# -- the leader's use of them ----------------------------------------------------------------

def leader(**cfg):
    node = new_node(1, pre_vote=False, check_quorum=False, **cfg)
    win_election(node)
    return node


def ack(node, frm, index, reject=False, hint=0, log_term=0):
    node.step(Message(type=MT.APP_RESP, to=1, frm=frm, term=node.raft.term, index=index,
                      reject=reject, reject_hint=hint, log_term=log_term))


def test_follower_starts_in_probe_and_moves_to_replicate_on_its_first_ack():
    node = leader()
    pr = node.raft.tracker.progress[2]
    assert pr.state == ProgressState.PROBE
    ack(node, 2, node.raft.log.last_index())
    assert pr.state == ProgressState.REPLICATE


def test_probing_leader_sends_one_append_at_a_time():
    node = leader()
    for d in (b"a", b"b", b"c"):
        node.propose(d)
    apps = [m for m in of_type(flush(node), MT.APP) if m.to == 2]
    assert apps == []  # the empty entry's append is still unanswered


def test_replicating_leader_streams_appends_up_to_the_window():
    node = leader(max_inflight_msgs=2)
    ack(node, 2, node.raft.log.last_index())
    flush(node)
    for d in (b"a", b"b", b"c"):
        node.propose(d)
    apps = [m for m in of_type(flush(node), MT.APP) if m.to == 2]
    assert [e.data for m in apps for e in m.entries] == [b"a", b"b"]


def test_one_append_carries_at_most_max_size_per_msg_bytes():
    net = Network(max_size_per_msg_bytes=100)
    net.elect(1)
    net.nodes[1].propose_batch([b"x" * 60, b"y" * 60, b"z" * 60])
    net.stabilize()
    apps = [m for m in net.sent_of(MT.APP) if m.to == 2 and m.entries]
    assert all(len(m.entries) == 1 for m in apps)
    assert data_of(net.applied[2]) == [b"x" * 60, b"y" * 60, b"z" * 60]


def test_heartbeat_response_lets_a_paused_probe_resend():
    node = leader()
    flush(node)
    node.tick()
    flush(node)
    node.step(Message(type=MT.HEARTBEAT_RESP, to=1, frm=2, term=node.raft.term))
    apps = [m for m in of_type(flush(node), MT.APP) if m.to == 2]
    assert len(apps) == 1


def test_unreachable_follower_goes_back_to_probe():
    node = leader()
    ack(node, 2, node.raft.log.last_index())
    assert node.raft.tracker.progress[2].state == ProgressState.REPLICATE
    node.report_unreachable(2)
    assert node.raft.tracker.progress[2].state == ProgressState.PROBE


def test_fast_back_off_skips_a_whole_divergent_term_per_rejection():
    # Paper 5.3 (end): with the conflicting term in the rejection, the leader skips every
    # entry of that term at once instead of one entry per round trip.
    lead = bootstrap_storage(terms=(1,) + (3,) * 50, term=3)
    follower = bootstrap_storage(terms=(1,) + (2,) * 50, term=3)
    net = Network(storages={1: lead, 2: follower}, pre_vote=False, check_quorum=False)
    net.nodes[1].campaign()
    net.stabilize()
    net.send(Message(type=MT.VOTE_RESP, to=1, frm=3, term=4))
    net.propose(1, b"x")
    assert net.log(2) == net.log(1)
    rejections = [m for m in net.sent_of(MT.APP_RESP, frm=2) if m.reject]
    assert 1 <= len(rejections) <= 2


def test_follower_recovers_after_the_whole_inflight_window_was_lost():
    net = Network(max_inflight_msgs=2, pre_vote=False, check_quorum=False)
    net.elect(1)
    net.propose(1, b"first")
    assert net.raft(1).tracker.progress[2].state == ProgressState.REPLICATE
    net.drop_if.append(lambda m: m.type == MT.APP and m.to == 2)
    for d in (b"a", b"b", b"c"):
        net.propose(1, d)
    assert net.raft(1).tracker.progress[2].inflights.full()
    net.drop_if.clear()
    net.tick(times=3)
    assert data_of(net.applied[2]) == [b"first", b"a", b"b", b"c"]


def test_a_lost_last_append_is_recovered_by_the_next_heartbeat():
    net = Network(pre_vote=False, check_quorum=False)
    net.elect(1)
    net.propose(1, b"first")
    net.drop_if.append(lambda m: m.type == MT.APP and m.to == 2)
    net.propose(1, b"lost")
    net.drop_if.clear()
    net.tick(1)
    assert data_of(net.applied[2]) == [b"first", b"lost"]
