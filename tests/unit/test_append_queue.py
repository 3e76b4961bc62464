"""The raft stage's line to wal: one batch in flight, raft's order kept."""
from petcd.common.pipeline import AppendRequest, Many, SaveSnapshot
from petcd.common.types import Snapshot, SnapshotMetadata
from petcd.stages.raft.append_queue import AppendQueue


def _append(seq):
    return AppendRequest(seq=seq, hard_state=None, entries=(), snapshot=None, must_sync=True)


def _snap(index):
    return SaveSnapshot(Snapshot(data=b"", metadata=SnapshotMetadata(index=index, term=1)))


def _queue(max_in_flight=1):
    sent = []
    return AppendQueue(sent.append, max_in_flight), sent


def test_first_append_leaves_at_once():
    q, sent = _queue()
    q.push(_append(1))
    q.flush()
    assert sent == [_append(1)]
    assert q.in_flight


def test_appends_wait_for_the_batch_in_flight_then_leave_as_one_frame():
    q, sent = _queue()
    q.push(_append(1))
    q.flush()
    q.push(_append(2))
    q.flush()
    q.push(_append(3))
    q.flush()
    assert sent == [_append(1)]
    q.done(1)
    q.flush()
    assert sent == [_append(1), Many((_append(2), _append(3)))]
    q.done(2)
    assert q.in_flight  # 3 is still unanswered
    q.done(3)
    assert not q.in_flight


def test_a_second_batch_leaves_while_the_first_is_in_flight():
    q, sent = _queue(max_in_flight=2)
    q.push(_append(1))
    q.flush()
    q.push(_append(2))
    q.flush()
    q.push(_append(3))
    q.push(_append(4))
    q.flush()
    assert sent == [_append(1), _append(2)]
    assert q.in_flight == 2
    q.done(1)
    q.flush()
    assert sent[2] == Many((_append(3), _append(4)))
    q.done(4)  # one answer frame may cover several batches
    assert q.in_flight == 0


def test_snapshot_saves_keep_their_place_in_line():
    q, sent = _queue()
    q.push(_append(1))
    q.flush()
    q.push(_snap(1))
    q.push(_append(2))
    q.flush()
    q.done(1)
    q.flush()
    assert sent[1] == Many((_snap(1), _append(2)))


def test_a_snapshot_save_alone_holds_nothing_back():
    q, sent = _queue()
    q.push(_snap(5))
    q.flush()
    assert not q.in_flight
    q.push(_append(1))
    q.flush()
    assert sent == [_snap(5), _append(1)]
