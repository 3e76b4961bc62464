"""The wal stage's writer: the messages that waited on an append leave only once it is written
and synced, never block the writer, and every append is answered in order."""
from petcd.common.pipeline import AppendDone, AppendRequest, Many, PeerFrame
from petcd.common.types import Entry, HardState
from petcd.stages.wal.writer import Writer


class RecordingWAL:
    """Stands in for the WAL: records what happened in which order."""

    def __init__(self, events: list) -> None:
        self.events = events

    def save(self, hard_state, entries, marker=None) -> None:
        self.events.append(("save", tuple(e.index for e in entries)))

    def sync(self) -> None:
        self.events.append(("sync",))

    def drop_unsynced(self) -> None:   # only a lose_unsynced failpoint calls it
        raise AssertionError("no failpoint is armed here")


def append(seq: int, index: int, must_sync: bool = True, to: int = 1) -> AppendRequest:
    frame = PeerFrame(to, b"ack-%d" % index)
    return AppendRequest(seq=seq, hard_state=HardState(1, 1, index),
                         entries=(Entry(1, index, 0, b"x"),) if must_sync else (),
                         snapshot=None, must_sync=must_sync, messages=(frame,))


def writer(events: list, accept: bool = True) -> Writer:
    def offer(value) -> bool:
        frames = value.items if isinstance(value, Many) else (value,)   # Many.of: one alone
        events.append(("send", tuple(f.frame for f in frames)))
        return accept
    return Writer(RecordingWAL(events), snapshotter=None, offer_to_peers=offer)


def test_messages_leave_after_the_sync_that_covers_them_in_one_batch():
    events = []
    done = writer(events).write([append(1, 5), append(2, 6)])
    assert events == [("save", (5,)), ("save", (6,)), ("sync",), ("send", (b"ack-5", b"ack-6"))]
    assert done == [AppendDone(1), AppendDone(2)]


def test_an_append_that_needs_no_sync_is_written_before_its_messages_leave():
    events = []
    writer(events).write([append(1, 7, must_sync=False)])
    assert events == [("save", ()), ("send", (b"ack-7",))]


def test_without_messages_nothing_is_sent():
    events = []
    request = AppendRequest(seq=1, hard_state=None, entries=(Entry(1, 1, 0, b"x"),),
                            snapshot=None, must_sync=True)
    assert writer(events).write([request]) == [AppendDone(1)]
    assert events == [("save", (1,)), ("sync",)]


def test_a_full_pipe_to_transport_drops_the_messages_and_still_answers_raft():
    events = []
    w = writer(events, accept=False)
    assert w.write([append(1, 5)]) == [AppendDone(1)]
    assert w.write([append(2, 6)]) == [AppendDone(2)]
    assert w.dropped_batches == 2


def test_transport_receives_the_frames_of_a_batch_as_one_value():
    sent = []
    w = Writer(RecordingWAL([]), snapshotter=None,
               offer_to_peers=lambda value: sent.append(value) or True)
    w.write([append(1, 5, to=2), append(2, 6, to=3)])
    assert sent == [Many((PeerFrame(2, b"ack-5"), PeerFrame(3, b"ack-6")))]
