"""Native watch streams for the synchronous client: many streams on one ZeroMQ connection.

Theory of operation (frames: stages/api/native/stream.py). A StreamMux owns one DEALER socket
per endpoint, separate from the unary calls' socket, and one daemon thread that alone touches
it: it sends what other threads queued (waking on a socketpair), reads every frame and hands
it to its stream's queue, and keeps each stream alive with a ping every keepalive / 3 (the
server ends a stream it hears nothing on for its keepalive). A stream whose ping has gone
unanswered for the keepalive gets `Unavailable`, so its Watch reconnects and resumes.

`open()` is a handshake: the open frame, then the server's `opened` (its window and keepalive)
or its error, within the dial timeout. Iterating a NativeStream yields WatchResponses; it
acknowledges a frame's bytes only once the caller has taken all of that frame's responses (in
quarters of the window), so a slow application stops the server's sending instead of filling
this process: at most a window of responses waits here per stream. `close()` (any thread) sends
the close frame and ends the iteration.
"""
from __future__ import annotations

import itertools
import queue
import socket
import threading
import time

import msgpack
import zmq

from petcd.common.kv import WatchResponse
from . import convert, errors

DEFAULT_WINDOW_BYTES = 1 << 20
_END = object()


def _pack(doc: dict) -> bytes:
    return msgpack.packb(doc, use_bin_type=True)


class NativeStream:
    def __init__(self, mux: StreamMux, sid: int, window_bytes: int) -> None:
        self.mux, self.sid = mux, sid
        self.window_bytes = window_bytes
        self.keepalive_s = 10.0
        self.items: queue.SimpleQueue = queue.SimpleQueue()
        self.opened = threading.Event()
        self.open_error: BaseException | None = None
        self.closed = False
        self._batch: list = []
        self._batch_bytes = 0
        self._unacked = 0
        # owned by the mux thread
        self.ping_at = 0.0
        self.ping_sent_at: float | None = None

    def send_request(self, request) -> None:
        self.mux.send({"stream": self.sid, "request": convert.dump(request, "native")})

    def __iter__(self):
        return self

    def __next__(self) -> WatchResponse:
        while not self._batch:
            if self._batch_bytes:
                self._consumed(self._batch_bytes)
                self._batch_bytes = 0
            if self.closed:
                raise StopIteration
            item = self.items.get()
            if item is _END:
                self.closed = True
                raise StopIteration
            if isinstance(item, BaseException):
                self.closed = True
                self.mux.forget(self.sid)
                raise item
            self._batch, self._batch_bytes = list(reversed(item[0])), item[1]
        return convert.load(WatchResponse, self._batch.pop())

    def _consumed(self, n: int) -> None:
        self._unacked += n
        if self._unacked >= self.window_bytes // 4:
            self.mux.send({"stream": self.sid, "ack": self._unacked})
            self._unacked = 0

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.mux.forget(self.sid):
                self.mux.send({"stream": self.sid, "close": True})
        self.items.put(_END)

    # -- from the mux thread --------------------------------------------------------------------

    def on_frame(self, doc: dict, size: int) -> None:
        self.ping_sent_at = None  # any frame shows the server is there
        if "responses" in doc:
            self.items.put((doc["responses"], size))
        elif "opened" in doc:
            o = doc["opened"]
            self.window_bytes = min(self.window_bytes, o.get("window_bytes", self.window_bytes))
            self.keepalive_s = o.get("keepalive_ms", 10_000) / 1000
            self.opened.set()
        elif "error" in doc:
            e = doc["error"]
            self.fail(errors.from_code(int(e.get("code", 2)), str(e.get("message", ""))))
        elif "closed" in doc:
            self.items.put(_END)

    def fail(self, err: BaseException) -> None:
        if not self.opened.is_set():  # the answer to the open: refused
            self.open_error = err
            self.opened.set()
        else:
            self.items.put(err)


class StreamMux:
    def __init__(self, address: str, context: zmq.Context, curve=None) -> None:
        self.address = address
        self.ctx = context
        self.curve = curve  # client/curve.CurveConfig, or None
        self.streams: dict[int, NativeStream] = {}
        self._ids = itertools.count(1)
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._lock = threading.Lock()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._pings = itertools.count(1)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="petcd-watch-mux")
                self._thread.start()

    def open(self, dial_timeout_s: float, require_leader: bool = False,
             window_bytes: int = DEFAULT_WINDOW_BYTES, token: str = "") -> NativeStream:
        self._start()
        sid = next(self._ids)
        st = NativeStream(self, sid, window_bytes)
        with self._lock:
            self.streams[sid] = st
        opening = {"method": "Watch", "require_leader": require_leader,
                   "window_bytes": window_bytes}
        if token:
            opening["token"] = token
        self.send({"stream": sid, "open": opening})
        if not st.opened.wait(dial_timeout_s):
            self.forget(sid)
            err = errors.Unreachable(f"dial tcp {self.address}: no answer to a watch stream "
                                     "open (native protocol)")
            err.sent = False
            raise err
        if st.open_error is not None:
            self.forget(sid)
            raise st.open_error
        return st

    def forget(self, sid: int) -> bool:
        with self._lock:
            return self.streams.pop(sid, None) is not None

    def send(self, doc: dict) -> None:
        # Frames of a stream given up before they left (an open that timed out while the
        # server was down) are dropped then; a close frame always goes.
        self._outbox.put((doc["stream"], "close" in doc, _pack(doc)))
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # closed, or the wake buffer is full (a wake is pending anyway)

    def close(self) -> None:
        self._stop = True
        for st in list(self.streams.values()):
            st.close()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)

    # -- the I/O thread -------------------------------------------------------------------------

    def _run(self) -> None:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)  # frames wait here until a connection exists
        if self.curve is not None:
            self.curve.apply(sock)
        sock.connect(f"tcp://{self.address}")
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        pending: list[tuple[int, bool, bytes]] = []  # (stream, always send, frame)
        try:
            while not self._stop:
                events = dict(poller.poll(100))
                if self._wake_r.fileno() in events:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
                while True:
                    try:
                        pending.append(self._outbox.get_nowait())
                    except queue.Empty:
                        break
                while pending:
                    sid, always, frame = pending[0]
                    if always or sid in self.streams:
                        try:
                            sock.send(frame, zmq.NOBLOCK)
                        except zmq.Again:  # not connected yet: try again next turn
                            break
                    pending.pop(0)
                while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    frame = sock.recv(zmq.NOBLOCK)
                    try:
                        doc = msgpack.unpackb(frame, raw=False, strict_map_key=False)
                    except ValueError:
                        continue  # not ours to understand; the stream's pings will tell
                    st = self.streams.get(doc.get("stream")) if isinstance(doc, dict) else None
                    if st is not None:
                        st.on_frame(doc, len(frame))
                self._keep_alive(pending)
            while True:
                try:
                    pending.append(self._outbox.get_nowait())
                except queue.Empty:
                    break
            for _, _, frame in pending:  # the close frames of a closing client, best effort
                try:
                    sock.send(frame, zmq.NOBLOCK)
                except zmq.ZMQError:
                    break
        finally:
            sock.close(0)
            self._wake_r.close()
            self._wake_w.close()

    def _keep_alive(self, pending: list) -> None:
        now = time.monotonic()
        for st in list(self.streams.values()):
            if not st.opened.is_set():
                continue
            if st.ping_sent_at is not None and now - st.ping_sent_at > st.keepalive_s:
                self.forget(st.sid)
                err = errors.Unreachable(f"{self.address}: no answer to a watch stream ping "
                                         f"in {st.keepalive_s:g} s")
                st.fail(err)
            elif now >= st.ping_at:
                st.ping_at = now + st.keepalive_s / 3
                if st.ping_sent_at is None:
                    st.ping_sent_at = now
                pending.append((st.sid, False,
                                _pack({"stream": st.sid, "ping": next(self._pings)})))
