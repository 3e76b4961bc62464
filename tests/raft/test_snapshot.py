"""Snapshots: catching up a follower whose entries were compacted (paper section 7)."""
from .network import Network, bootstrap_storage, data_of, flush, new_node, of_type
from petcd.stages.raft.core import (
    ConfState, Message, MessageType as MT, ProgressState, Snapshot, SnapshotMetadata, StateType,
)

ET = 10


def compact(net, node_id, index):
    st = net.storages[node_id]
    st.create_snapshot(index, None, b"state@%d" % index)
    st.compact(index)


def lagging_cluster():
    """Leader 1 has compacted entries that follower 3 (cut off meanwhile) never received."""
    net = Network()
    net.elect(1)
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"%d" % i)
    compact(net, 1, net.raft(1).log.applied)
    return net


def progress(net, lead, node_id):
    return net.raft(lead).tracker.progress[node_id]


def test_lagging_follower_is_sent_a_snapshot():
    net = lagging_cluster()
    net.heal()
    net.tick(1)
    (snap,) = net.sent_of(MT.SNAP)
    assert snap.to == 3
    assert snap.snapshot.metadata.index == net.storages[1].snapshot().metadata.index


def test_follower_installs_the_snapshot():
    net = lagging_cluster()
    net.heal()
    net.tick(1)
    index = net.storages[1].snapshot().metadata.index
    (snap,) = net.snapshots[3]
    assert snap.metadata.index == index and snap.data == b"state@%d" % index
    assert net.storages[3].first_index() == index + 1
    assert net.raft(3).log.applied >= index


def test_leader_resumes_replication_after_the_snapshot():
    net = lagging_cluster()
    net.heal()
    net.tick(1)
    assert progress(net, 1, 3).state == ProgressState.REPLICATE
    net.propose(1, b"after")
    assert net.log(3) == net.log(1)[-len(net.log(3)):]
    assert data_of(net.applied[3]) == [b"after"]


def test_failed_snapshot_puts_the_follower_back_to_probing_from_its_match():
    net = lagging_cluster()
    net.heal()
    net.drop_if.append(lambda m: m.type == MT.SNAP)
    net.tick(1)
    pr = progress(net, 1, 3)
    assert pr.state == ProgressState.SNAPSHOT
    net.nodes[1].report_snapshot(3, failed=True)
    assert pr.state == ProgressState.PROBE
    assert pr.next == pr.match + 1
    assert pr.is_paused()  # wait for a heartbeat response before probing again


def test_successful_snapshot_resumes_probing_after_it():
    net = lagging_cluster()
    net.heal()
    net.drop_if.append(lambda m: m.type == MT.SNAP)
    net.tick(1)
    pr = progress(net, 1, 3)
    pending = pr.pending_snapshot
    net.nodes[1].report_snapshot(3, failed=False)
    assert pr.state == ProgressState.PROBE
    assert pr.next == pending + 1


def test_snapshot_is_not_sent_to_a_follower_not_recently_active():
    net = lagging_cluster()
    net.tick(1, 2, times=ET)  # a check-quorum round: 3 is marked inactive
    net.nodes[1].report_unreachable(3)
    net.propose(1, b"more")
    assert net.sent_of(MT.SNAP) == []
    net.heal()
    net.tick(1)
    assert [m.to for m in net.sent_of(MT.SNAP)] == [3]


def snap_message(index, term, to=1, frm=2, msg_term=2):
    meta = SnapshotMetadata(index=index, term=term, conf_state=ConfState(voters=(1, 2, 3)))
    return Message(type=MT.SNAP, to=to, frm=frm, term=msg_term, snapshot=Snapshot(meta, b"s"))


def test_follower_ignores_a_snapshot_older_than_its_commit_index():
    node = new_node(1, storage=bootstrap_storage(terms=(2, 2), term=2, commit=3))
    node.step(snap_message(2, 1))  # from a stale leader: must not undo committed entries
    rd = node.ready()
    assert rd.snapshot is None
    (resp,) = rd.persist_messages
    assert resp.type == MT.APP_RESP and resp.index == 3


def test_follower_holding_the_snapshot_prefix_only_advances_its_commit_index():
    node = new_node(1, storage=bootstrap_storage(terms=(1, 1, 1), term=2))
    node.step(snap_message(3, 1))
    rd = node.ready()
    assert rd.snapshot is None
    assert node.raft.log.committed == 3
    assert node.raft.log.last_index() == 4


def test_entries_after_a_snapshot_apply_only_once_it_is_installed():
    node = new_node(1)
    node.step(snap_message(10, 2))
    rd = node.ready()
    assert rd.snapshot.metadata.index == 10
    assert rd.committed_entries == []
    assert node.raft.log.applied < 10
    node.raft.log.storage.apply_snapshot(rd.snapshot)  # persist it as the caller would ...
    for m in rd.persist_messages:  # ... then report it
        if m.to == 1:
            node.step(m)
    assert node.raft.log.applied == 10


def test_node_does_not_campaign_while_a_snapshot_is_being_installed():
    node = new_node(1)
    node.step(snap_message(10, 2))
    node.campaign()
    assert node.raft.state == StateType.FOLLOWER
    flush(node)
    node.campaign()
    assert node.raft.state != StateType.FOLLOWER


def test_snapshot_response_is_sent_only_after_the_snapshot_is_persisted():
    node = new_node(1)
    node.step(snap_message(10, 2))
    rd = node.ready()
    assert of_type(rd.messages, MT.APP_RESP) == []
    (resp,) = of_type(rd.persist_messages, MT.APP_RESP)
    assert resp.index == 10
