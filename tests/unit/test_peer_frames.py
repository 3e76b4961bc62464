"""raft encodes its messages once per peer (PeerFrame.per_peer), transport reads only a frame's type
code (codec.type_code) to pass raft's frames on, and a peer's frame decodes on the far side to
the messages raft sent."""
from petcd.common import codec
from petcd.common.pipeline import AppendDone, Many, PeerFrame, PeerMessages
from petcd.common.types import Entry, Message, MessageType, Snapshot, SnapshotMetadata


def app(to: int, index: int) -> Message:
    return Message(MessageType.APP, to=to, frm=1, term=2, log_term=2, index=index,
                   entries=(Entry(2, index + 1, 0, b"v%d" % index),), commit=index)


def test_one_frame_per_peer_in_the_order_raft_sent():
    msgs = [app(2, 10), app(3, 10), app(2, 11)]
    frames = PeerFrame.per_peer(msgs)
    assert [type(f) for f in frames] == [PeerFrame, PeerFrame]
    by_peer = {f.to: codec.decode(f.frame) for f in frames}
    assert by_peer == {2: PeerMessages((msgs[0], msgs[2])), 3: PeerMessages((msgs[1],))}


def test_a_snapshot_message_stays_decoded_for_transport_to_stream_its_store():
    snap = Message(MessageType.SNAP, to=3, frm=1, term=2,
                   snapshot=Snapshot(b"", SnapshotMetadata(index=5, term=2)))
    frames = PeerFrame.per_peer([app(2, 10), snap])
    assert PeerMessages((snap,)) in frames
    assert [f.to for f in frames if isinstance(f, PeerFrame)] == [2]


def test_type_code_reads_the_value_type_without_decoding():
    frame = codec.encode(PeerMessages((app(2, 1),)))
    assert codec.type_code(frame) == codec.code_of(PeerMessages)
    assert codec.type_code(codec.encode(Many((AppendDone(1), AppendDone(2))))) == \
        codec.code_of(Many)
    for bad in (b"", b"\x01", b"\x02\x81\x3d", b"\x01\x82\x3d", b"\x01\x81\xcc\x80", b"junk"):
        assert codec.type_code(bad) is None
