"""RaftNode's routing of Readys for a single voter: what goes to wal, to apply and to api.

A commit-only hard state needs no fsync and holds no message back, so it makes no trip to wal
of its own; it rides with the next append. The status api sees changes with the leadership,
not with every commit. Messages to peers that must wait for the persist ride in the append
request, for wal to hand to transport after its fdatasync.
"""
import random

from petcd.common import codec
from petcd.common.pipeline import PeerFrame, PeerMessages, Proposal
from petcd.common.types import ConfChange, ConfChangeType, Entry, EntryType, Message, MessageType
from petcd.stages.raft.core import Config, MemoryStorage, RawNode
from petcd.stages.raft.node import RaftNode


def leader() -> RaftNode:
    storage = MemoryStorage()
    rawnode = RawNode(Config(id=1, rand=random.Random(1), election_ticks=10, heartbeat_ticks=1),
                      storage)
    rawnode.bootstrap([ConfChange(ConfChangeType.ADD_NODE, 1, b"")])
    node = RaftNode(rawnode, storage)
    settle(node)  # the bootstrap's conf change
    rawnode.campaign()
    settle(node)
    assert rawnode.raft.lead == 1
    return node


def settle(node: RaftNode) -> list:
    """Make every append durable at once, as wal would; what was sent to wal, in order."""
    sent = []
    while True:
        out = node.flush()
        sent += out.appends
        for batch in out.applies:
            for e in batch.entries:
                if e.type == EntryType.CONF_CHANGE:
                    node.rawnode.apply_conf_change(ConfChange.decode(e.data))
            node.applied_to(batch.entries[-1].index)
        if not out.appends and not out.applies:
            return sent
        for req in out.appends:
            node.append_done(req.seq)


def put(node: RaftNode, data: bytes):
    node.propose([Proposal(request_id=1, worker=1, data=data)])
    out = node.flush()
    assert [len(a.entries) for a in out.appends] == [1]
    return out.appends[0]


def test_a_commit_only_hard_state_makes_no_trip_to_wal():
    node = leader()
    first = put(node, b"a")
    node.append_done(first.seq)
    out = node.flush()
    assert [b.entries[-1].data for b in out.applies] == [b"a"]   # committed and handed on
    assert out.appends == []                                      # the new commit waits


def test_the_waiting_commit_rides_with_the_next_append():
    node = leader()
    first = put(node, b"a")
    node.append_done(first.seq)
    committed = node.rawnode.raft.log.committed
    node.flush()
    second = put(node, b"b")
    assert second.hard_state is not None and second.hard_state.commit == committed
    assert second.must_sync


def test_appends_still_complete_in_order_after_a_deferred_commit():
    node = leader()
    first = put(node, b"a")
    node.append_done(first.seq)
    node.flush()
    second = put(node, b"b")
    node.append_done(second.seq)
    out = node.flush()
    assert [b.entries[-1].data for b in out.applies] == [b"b"]
    assert node.storage.hard_state.commit == first.entries[-1].index


def test_status_follows_leadership_not_commits():
    node = leader()
    assert node.flush().status is None
    first = put(node, b"a")
    node.append_done(first.seq)
    assert node.flush().status is None
    node.rawnode.raft.become_follower(node.rawnode.raft.term + 1, 0)
    status = node.flush().status
    assert status is not None and status.lead == 0


def test_a_follower_s_append_ack_rides_with_its_append_for_wal_to_send():
    storage = MemoryStorage()
    rawnode = RawNode(Config(id=2, rand=random.Random(1), election_ticks=10, heartbeat_ticks=1),
                      storage)
    rawnode.bootstrap([ConfChange(ConfChangeType.ADD_NODE, 1, b""),
                       ConfChange(ConfChangeType.ADD_NODE, 2, b"")])
    node = RaftNode(rawnode, storage)
    settle(node)
    last = rawnode.raft.log.last_index()
    node.step([Message(type=MessageType.APP, to=2, frm=1, term=1, log_term=1, index=last,
                       entries=(Entry(term=1, index=last + 1, data=b"x"),), commit=last)])
    out = node.flush()
    assert out.peer_messages == []                 # nothing acknowledges before the fsync
    request, = out.appends
    frame, = request.messages
    assert isinstance(frame, PeerFrame) and frame.to == 1
    ack, = codec.decode(frame.frame).messages
    assert (ack.type, ack.to, ack.index, ack.reject) == (MessageType.APP_RESP, 1, last + 1, False)
    assert isinstance(codec.decode(frame.frame), PeerMessages)
    node.append_done(request.seq)
    assert node.flush().peer_messages == []        # wal sent it; raft does not send it again
    assert storage.last_index() == last + 1        # the entry entered the storage cache
