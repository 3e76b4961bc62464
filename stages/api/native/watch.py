"""Watch streams on the ZeroMQ front end: the table of open streams and how they are served.

Theory of operation. Frames and credit are stream.py's. Each open stream is keyed by
(socket, routing id, stream id) and holds a WatchStream, the same as HTTP's (ids, created and
canceled responses, filters, prev_kv, progress, fragments, slow watchers caught up from LMDB);
its `send` is ours: responses become frames, and each frame leaves once the stream has credit.
While a client acknowledges nothing, its stream's responses wait in the WatchStream, and the
hub stops buffering for a watcher past `--watch-buffer-events` and catches it up from LMDB
later, exactly as for a slow HTTP reader. Requests are queued per stream and handed to the
WatchStream in order, each once its backlog of unsent responses is short (as HTTP's reader
waits on wait_room); a client that sends without reading may queue at most window_bytes of
requests before its stream is ended with "too many requests".

A client that goes away loses its watchers:
- it closes the stream (a close frame): at once;
- its connection drops: the ROUTER forgets its routing id, and the next frame sent to it fails
  with EHOSTUNREACH (ROUTER_MANDATORY), which ends the stream; ZMTP heartbeats
  (ZMQ_HEARTBEAT_IVL/TIMEOUT, set by the front end) find dead TCP connections;
- it goes silent: a stream with nothing received (request, ack, ping) for keepalive_ms is a
  lease that expired, and is ended. Clients ping every keepalive_ms / 3.
An abandoned stream thus watches for at most keepalive_ms, holding at most window_bytes plus a
frame of sent responses and each watcher's bounded buffer.

Must never: drop or reorder a frame of an open stream (a full peer pipe is EAGAIN under
ROUTER_MANDATORY, and the frame is sent again after a short back-off), block the loop on a
client, or answer frames of one connection's streams to another.
"""
from __future__ import annotations

import asyncio
import errno
import logging
from collections import deque
from typing import Callable

import zmq

from .. import limits
from petcd.common.errors import Code, ErrStopped, ErrTooManyRequests, EtcdError
from petcd.common.kv import WatchRequest
from .. import learner, limits
from . import codec as native, stream as ns
from ..leader_monitor import no_leader

log = logging.getLogger("petcd.api")

RETRY_MAX_S = 0.05  # back-off cap for a frame refused by a full peer pipe


class PeerGone(Exception):
    """The client's connection is gone (the ROUTER no longer knows its routing id)."""


class _Stream:
    __slots__ = ("sock", "ident", "sid", "watch", "credit", "frame_bytes", "credit_ready",
                 "inbox", "inbox_bytes", "inbox_ready", "expires_at", "final", "task")

    def __init__(self, sock, ident: bytes, sid: int, window_bytes: int, expires_at: float):
        self.sock, self.ident, self.sid = sock, ident, sid
        self.watch = None
        self.credit = ns.Credit(window_bytes)
        # A frame is a quarter of the window, so credit comes back while the client reads on.
        self.frame_bytes = max(1, window_bytes // 4)
        self.credit_ready = asyncio.Event()
        self.inbox: deque[tuple[WatchRequest, int]] = deque()
        self.inbox_bytes = 0
        self.inbox_ready = asyncio.Event()
        self.expires_at = expires_at
        self.final: bytes | None = None  # the last frame; b"": send none (the peer is gone)
        self.task: asyncio.Task | None = None


class ZmqWatchStreams:
    def __init__(self, new_watch_stream: Callable, has_leader: Callable[[], bool], *,
                 window_bytes: int, keepalive_ms: int, max_streams_per_connection: int,
                 after_send: Callable = lambda sock: None,
                 is_learner: Callable[[], bool] = lambda: False) -> None:
        """new_watch_stream(send, require_leader=) -> WatchStream (the worker's registry);
        after_send(sock): the front end looks at the socket again (its FD is edge-triggered,
        and a send may consume the edge of frames that arrived meanwhile)."""
        self.new_watch_stream = new_watch_stream
        self.has_leader = has_leader
        self.is_learner = is_learner
        self.window_bytes = window_bytes
        self.keepalive_ms = keepalive_ms
        self.max_streams = max_streams_per_connection
        self.after_send = after_send
        self.streams: dict[tuple, _Stream] = {}
        self.per_connection: dict[tuple, int] = {}
        self._sweeper: asyncio.Task | None = None
        # counters (for /metrics and tests)
        self.expired_total = 0
        self.peers_gone_total = 0

    def __len__(self) -> int:
        return len(self.streams)

    def start(self) -> None:
        self._sweeper = asyncio.ensure_future(self._sweep())

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for s in list(self.streams.values()):
            s.watch.abort(EtcdError(ErrStopped.code, ErrStopped.message))

    # -- frames from clients --------------------------------------------------------------------

    def on_frame(self, sock, ident: bytes, doc: dict, size: int) -> None:
        try:
            op = ns.parse(doc)
        except ns.StreamFrameError as e:
            s = self.streams.get((id(sock), ident, e.stream))
            if s is not None:
                self._end(s, e)
            elif e.stream:
                self._reply(sock, ident, ns.error(e.stream, e))
            return
        s = self.streams.get((id(sock), ident, op.stream))
        kind = type(op)
        if kind is ns.StreamOpen:
            return self._open(sock, ident, op, s)
        if s is None:
            if kind is ns.StreamClose:
                self._reply(sock, ident, ns.closed(op.stream))  # closing twice is fine
            elif kind is not ns.StreamAck:  # late acks of an ended stream are expected
                self._reply(sock, ident, ns.error(op.stream, EtcdError(
                    Code.UNAVAILABLE, "petcd: no such watch stream (ended, expired, or the "
                                      "server restarted)")))
            return
        s.expires_at = asyncio.get_running_loop().time() + self.keepalive_ms / 1000
        if kind is ns.StreamRequest:
            try:
                req = native.from_map(WatchRequest, op.request)
            except native.NativeError as e:
                return self._end(s, e)
            s.inbox.append((req, size))
            s.inbox_bytes += size
            if s.inbox_bytes > s.credit.window_bytes:
                limits.hit("zmq", "stream_window")
                return self._end(s, EtcdError(ErrTooManyRequests.code,
                                              ErrTooManyRequests.message))
            s.inbox_ready.set()
        elif kind is ns.StreamAck:
            s.credit.ack(op.bytes)
            if s.credit.can_send():
                s.credit_ready.set()
        elif kind is ns.StreamPing:
            self._reply(sock, ident, ns.pong(op.stream, op.nonce))
        elif kind is ns.StreamClose:
            s.final = ns.closed(s.sid)
            s.watch.close()

    def _open(self, sock, ident: bytes, op: ns.StreamOpen, existing: _Stream | None) -> None:
        if existing is not None:  # the client reused a live id: end both, say so once
            return self._end(existing, ns.StreamFrameError(op.stream, "stream id already open"))
        conn = (id(sock), ident)
        err = None
        if op.method != "Watch":
            err = EtcdError(Code.UNIMPLEMENTED, f"unknown stream method {op.method!r}")
        elif self.is_learner():  # a learner serves no streams (etcd 3.4)
            err = learner.not_capable()
        elif op.require_leader and not self.has_leader():
            err = no_leader()
        elif self.per_connection.get(conn, 0) >= self.max_streams:
            # etcd's gRPC makes such a client wait for a stream; its nearest error text
            limits.hit("zmq", "streams")
            err = EtcdError(ErrTooManyRequests.code, ErrTooManyRequests.message)
        if err is not None:
            return self._reply(sock, ident, ns.error(op.stream, err))
        window = min(op.window_bytes or self.window_bytes, self.window_bytes)
        loop = asyncio.get_running_loop()
        s = _Stream(sock, ident, op.stream, window, loop.time() + self.keepalive_ms / 1000)
        s.watch = self.new_watch_stream(lambda rs: self._send_responses(s, rs),
                                        require_leader=op.require_leader, token=op.token)
        self.streams[(id(sock), ident, op.stream)] = s
        self.per_connection[conn] = self.per_connection.get(conn, 0) + 1
        self._reply(sock, ident, ns.opened(op.stream, window, self.keepalive_ms))
        s.task = asyncio.ensure_future(self._serve(s))

    def _end(self, s: _Stream, err: EtcdError) -> None:
        if s.final is None:
            s.final = ns.error(s.sid, err)
        s.watch.close()

    # -- serving one stream ---------------------------------------------------------------------

    async def _serve(self, s: _Stream) -> None:
        writer = asyncio.ensure_future(s.watch.run())
        writer.add_done_callback(lambda t: self._writer_done(s, t))
        reader = asyncio.ensure_future(self._take_requests(s))
        try:
            await s.watch.closed.wait()
        finally:
            s.watch.close()
            for t in (reader, writer):
                t.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            self._forget(s)
            final = s.final
            if final is None:  # ended by the server: no leader, or stopping
                final = ns.error(s.sid, s.watch.error or EtcdError(ErrStopped.code,
                                                                   ErrStopped.message))
            if final:
                self._reply(s.sock, s.ident, final)

    def _writer_done(self, s: _Stream, t: asyncio.Task) -> None:
        if not t.cancelled():
            e = t.exception()
            if isinstance(e, PeerGone):
                self.peers_gone_total += 1
                s.final = b""
            elif e is not None:
                log.error("watch stream writer failed: %r", e)
        s.watch.close()

    def _forget(self, s: _Stream) -> None:
        if self.streams.get((id(s.sock), s.ident, s.sid)) is s:
            del self.streams[(id(s.sock), s.ident, s.sid)]
            conn = (id(s.sock), s.ident)
            left = self.per_connection[conn] - 1
            if left:
                self.per_connection[conn] = left
            else:
                del self.per_connection[conn]

    async def _take_requests(self, s: _Stream) -> None:
        while True:
            if not s.inbox:
                s.inbox_ready.clear()
                await s.inbox_ready.wait()
                continue
            req, size = s.inbox.popleft()
            s.inbox_bytes -= size
            await s.watch.wait_room()
            s.watch.request(req)

    async def _send_responses(self, s: _Stream, responses: list) -> None:
        for frame in ns.response_frames(s.sid, responses, s.frame_bytes):
            while not s.credit.can_send():
                s.credit_ready.clear()
                await s.credit_ready.wait()
            await self._send(s, frame)
            s.credit.sent(len(frame))

    async def _send(self, s: _Stream, frame: bytes) -> None:
        delay = 0.001
        while True:
            try:
                s.sock.send_multipart((s.ident, frame), zmq.NOBLOCK)
                break
            except zmq.Again:  # the peer's pipe is full: never drop, try again shortly
                await asyncio.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_S)
            except zmq.ZMQError as e:
                if e.errno == errno.EHOSTUNREACH:
                    raise PeerGone() from None
                raise
        self.after_send(s.sock)

    def _reply(self, sock, ident: bytes, frame: bytes) -> None:
        """A control frame, best effort: a client whose pipe is full is not reading anyway."""
        try:
            sock.send_multipart((ident, frame), zmq.NOBLOCK)
        except zmq.ZMQError:
            return
        self.after_send(sock)

    # -- leases ---------------------------------------------------------------------------------

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        interval_s = max(0.05, self.keepalive_ms / 4000)
        while True:
            await asyncio.sleep(interval_s)
            now = loop.time()
            for s in list(self.streams.values()):
                if now > s.expires_at and not s.watch.closed.is_set():
                    self.expired_total += 1
                    self._end(s, EtcdError(Code.UNAVAILABLE, (
                        f"petcd: watch stream expired: nothing received for "
                        f"{self.keepalive_ms} ms (--zmq-stream-keepalive-ms)")))
