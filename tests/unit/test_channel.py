"""Receiver.drain over real ZeroMQ ipc pipes in a temp dir: everything queued, in order, Many
frames unpacked, topics stripped, at most max_count frames per call, nothing lost between
calls."""
import os
import tempfile
import time

import pytest
import zmq

from petcd.common import codec
from petcd.common.pipeline import AppendDone, Many
from petcd.ipc.channel import Receiver, Sender


@pytest.fixture
def pipe_dir():
    with tempfile.TemporaryDirectory(prefix="petcd-chan-") as d:
        os.makedirs(os.path.join(d, "run"), exist_ok=True)
        yield d


@pytest.fixture
def zctx():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def wait_readable(receiver: Receiver) -> None:
    assert receiver.socket.poll(5000, zmq.POLLIN), "nothing arrived"


def drain_until(receiver: Receiver, count: int, max_count: int = 100_000, **kw) -> list:
    got, deadline = [], time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        wait_readable(receiver)
        got += receiver.drain(max_count, **kw)
    return got


def test_drain_reads_everything_queued_in_order_and_unpacks_many(pipe_dir, zctx):
    rx = Receiver(zctx, pipe_dir, "respc")
    tx = Sender(zctx, pipe_dir, "respc")
    tx.send(AppendDone(1))
    tx.send(Many((AppendDone(2), AppendDone(3))))
    tx.send(AppendDone(4))
    assert drain_until(rx, 4) == [AppendDone(i) for i in (1, 2, 3, 4)]
    assert rx.drain() == []


def test_drain_takes_at_most_max_count_frames_and_loses_none(pipe_dir, zctx):
    rx = Receiver(zctx, pipe_dir, "propc")
    tx = Sender(zctx, pipe_dir, "propc")
    for i in range(5):
        tx.send(AppendDone(i))
    wait_readable(rx)
    first = rx.drain(2)
    assert 1 <= len(first) <= 2
    assert first + drain_until(rx, 5 - len(first)) == [AppendDone(i) for i in range(5)]


def test_drain_strips_the_topic_of_a_pub_sub_pipe(pipe_dir, zctx):
    tx = Sender(zctx, pipe_dir, "resultc")
    rx = Receiver(zctx, pipe_dir, "resultc", topics=(b"w1",))
    deadline = time.monotonic() + 5
    got = []
    while not got and time.monotonic() < deadline:  # a SUB joins late: resend until seen
        tx.send(AppendDone(7), topic=b"w1")
        tx.send(AppendDone(8), topic=b"w2")  # not subscribed
        if rx.socket.poll(50, zmq.POLLIN):
            got = rx.drain()
    assert got and set(got) == {AppendDone(7)}


def test_drain_skips_an_undecodable_frame_only_when_told_to(pipe_dir, zctx):
    rx = Receiver(zctx, pipe_dir, "respc")
    tx = Sender(zctx, pipe_dir, "respc")
    tx.send(AppendDone(1))
    tx.send_frame(b"\x01\x81\x3dgarbage")
    tx.send_frame(codec.encode(AppendDone(2)))
    dropped = []
    got = drain_until(rx, 2, on_garbage=dropped.append)
    assert got == [AppendDone(1), AppendDone(2)]
    assert len(dropped) == 1 and isinstance(dropped[0], codec.CodecError)
    tx.send_frame(b"garbage")
    wait_readable(rx)
    with pytest.raises(codec.CodecError):
        rx.drain()
