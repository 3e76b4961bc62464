"""The transport's peer links recover from a connection whose far end went silent without
closing it (a crashed host, a dropped route): the handshake timeout and ZeroMQ heartbeats
(--peer-keepalive-timeout-ms) drop it and redial. Without them ZeroMQ waits 30 s for a
handshake and TCP minutes for an established link, and the peer misses every heartbeat of
its leader meanwhile (robustness seed 35009 found this)."""
import time

import pytest
import zmq

from petcd.common.pipeline import PeerMessages
from petcd.common.types import Message, MessageType
from petcd.ipc.loop import Loop
from petcd.stages.transport.peer import Transport

from .member import free_port
from .proxy import LinkProxy

KEEPALIVE_MS = 500


def heartbeat(frm: int, to: int) -> PeerMessages:
    return PeerMessages((Message(MessageType.HEARTBEAT, to=to, frm=frm, term=1),))


@pytest.mark.integration
@pytest.mark.parametrize("holes", [1, 3])
def test_a_link_whose_far_end_never_answers_is_redialled(holes):
    ctx = zmq.Context()
    receiver_port = free_port()
    receiver = Transport(ctx, Loop(), 2, [f"tcp://127.0.0.1:{receiver_port}"],
                         keepalive_timeout_ms=KEEPALIVE_MS)
    hole = LinkProxy(receiver_port)
    hole.hold_next(holes)
    sender = Transport(ctx, Loop(), 1, [f"tcp://127.0.0.1:{free_port()}"],
                       keepalive_timeout_ms=KEEPALIVE_MS)
    try:
        sender.set_peers({2: f"tcp://127.0.0.1:{hole.port}"})
        start = time.monotonic()
        # Each dead connection costs one handshake timeout, then the redial gets through.
        deadline = start + (holes + 4) * KEEPALIVE_MS / 1000.0
        got = []
        while not got and time.monotonic() < deadline:
            sender.send([heartbeat(1, 2)])
            if receiver.router.poll(50):
                got, _, _ = receiver.receive()
        assert got, f"no message through after {time.monotonic() - start:.1f} s"
        assert len(hole.held) == holes
    finally:
        sender.close()
        receiver.close()
        hole.close()
        ctx.term()
