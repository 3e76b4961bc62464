"""Typed senders and receivers over the pipes of ipc/pipes.py.

Theory of operation: a Sender encodes each value once with common/codec and sends it; a
Receiver drains everything queued without blocking (`drain()`), so a stage loop processes its
inputs in batches (DESIGN.md section 5). PUB/SUB pipes carry a topic frame first. Sockets
never block forever: sends respect the pipe's high-water mark, and stage loops only receive
after the poller said there is something to read.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import zmq

from petcd.common import codec, hoptrace
from petcd.common.pipeline import Many
from .pipes import PIPES, address

ZERO_COPY_MIN_BYTES = 65536
# Plain ints: pyzmq's flag enums cost a Python-level call at every use.
_NOBLOCK, _SNDMORE = int(zmq.NOBLOCK), int(zmq.SNDMORE)
_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)


def _socket(ctx: zmq.Context, data_dir: str, pipe_name: str, side: str) -> zmq.Socket:
    pipe = PIPES[pipe_name]
    kind = pipe.sender_type if side == "sender" else pipe.receiver_type
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM if side == "sender" else zmq.RCVHWM, pipe.hwm)
    addr = address(data_dir, pipe_name)
    if pipe.bind_side == side:
        sock.bind(addr)
    else:
        sock.connect(addr)
    return sock


class Sender:
    def __init__(self, ctx: zmq.Context, data_dir: str, pipe: str) -> None:
        self.pipe = pipe
        self._trace = f"send {pipe}"
        self.socket = _socket(ctx, data_dir, pipe, "sender")
        self._pub = PIPES[pipe].sender_type == zmq.PUB

    def send(self, value: Any, topic: bytes = b"") -> None:
        self.send_frame(codec.encode(value), topic)

    def offer(self, value: Any) -> bool:
        """Send without blocking: False (and nothing sent) if the pipe is full. For a stage
        that must not stall behind its receiver (wal behind transport)."""
        try:
            self.socket.send(codec.encode(value), _NOBLOCK)
        except zmq.Again:
            return False
        return True

    def send_frame(self, frame: bytes, topic: bytes = b"") -> None:
        """Send a value already encoded (transport passes peers' frames on this way)."""
        if hoptrace.ON:
            hoptrace.point(self._trace)
        if self._pub:
            self.socket.send(topic, _SNDMORE)
        # Zero-copy sends pay for tracking; below ~64 KiB copying is cheaper (pyzmq's advice).
        self.socket.send(frame, copy=len(frame) < ZERO_COPY_MIN_BYTES)

    def close(self) -> None:
        self.socket.close(0)


class Receiver:
    def __init__(self, ctx: zmq.Context, data_dir: str, pipe: str,
                 topics: Iterable[bytes] = ()) -> None:
        self.pipe = pipe
        self._trace = f"recv {pipe}"
        self.socket = _socket(ctx, data_dir, pipe, "receiver")
        self._sub = PIPES[pipe].receiver_type == zmq.SUB
        if self._sub:
            for t in topics:
                self.socket.setsockopt(zmq.SUBSCRIBE, t)

    def drain(self, max_count: int = 100_000,
              on_garbage: Callable[[codec.CodecError], None] | None = None) -> list[Any]:
        """Everything queued now (up to max_count frames), decoded, without blocking. A frame
        that does not decode raises CodecError, or with `on_garbage` is reported and skipped
        (for frames that came from outside the member undecoded)."""
        out = []
        sock = self.socket
        sub = self._sub
        # After the first read, ask ZeroMQ whether more is queued rather than reading until
        # EAGAIN: pyzmq's Again exception costs twice the query, and most drains find one
        # or two frames.
        try:
            frame = sock.recv(_NOBLOCK)
        except zmq.Again:
            return out
        if hoptrace.ON:
            hoptrace.point(self._trace)
        frames = 0
        while True:
            if sub:  # that was the topic; the value follows in the same message
                frame = sock.recv(_NOBLOCK)
            try:
                value = codec.decode(frame)
            except codec.CodecError as e:
                if on_garbage is None:
                    raise
                on_garbage(e)
            else:
                if type(value) is Many:
                    out.extend(value.items)
                else:
                    out.append(value)
            frames += 1
            if frames >= max_count or not sock.getsockopt(_EVENTS) & _POLLIN:
                return out
            frame = sock.recv(_NOBLOCK)

    def close(self) -> None:
        self.socket.close(0)
