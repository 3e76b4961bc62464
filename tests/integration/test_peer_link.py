"""The transport's peer links recover from a connection whose far end went silent without
closing it (a crashed host, a dropped route): the handshake timeout and ZeroMQ heartbeats
(--peer-keepalive-timeout-ms) drop it and redial. Without them ZeroMQ waits 30 s for a
handshake and TCP minutes for an established link, and the peer misses every heartbeat of
its leader meanwhile (robustness seed 35009 found this)."""
import socket
import threading
import time

import pytest
import zmq

from petcd.common.pipeline import PeerMessages
from petcd.common.types import Message, MessageType
from petcd.ipc.loop import Loop
from petcd.stages.transport.peer import Transport

from .member import free_port

KEEPALIVE_MS = 500


class BlackHoleFirst:
    """Accepts connections on `port`. The first `holes` are held open and never answered
    (the far end of a dead link); the later ones are forwarded to `target`."""

    def __init__(self, target: int, holes: int = 1) -> None:
        self.target, self.holes = target, holes
        self.held: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if len(self.held) < self.holes:
                self.held.append(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.server.close()
        for s in self.held:
            s.close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def heartbeat(frm: int, to: int) -> PeerMessages:
    return PeerMessages((Message(MessageType.HEARTBEAT, to=to, frm=frm, term=1),))


@pytest.mark.integration
@pytest.mark.parametrize("holes", [1, 3])
def test_a_link_whose_far_end_never_answers_is_redialled(holes):
    ctx = zmq.Context()
    receiver_port = free_port()
    receiver = Transport(ctx, Loop(), 2, [f"tcp://127.0.0.1:{receiver_port}"],
                         keepalive_timeout_ms=KEEPALIVE_MS)
    hole = BlackHoleFirst(receiver_port, holes)
    sender = Transport(ctx, Loop(), 1, [f"tcp://127.0.0.1:{free_port()}"], keepalive_timeout_ms=KEEPALIVE_MS)
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
