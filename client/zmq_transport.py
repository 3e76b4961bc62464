"""Calls over petcd's native protocol: msgpack maps on a ZeroMQ DEALER socket
(stages/api/native/codec.py has the format).

Theory of operation: one DEALER socket per endpoint; a call sends `{"id", "method",
"request"}` and reads frames until the one with its id arrives (answers to calls that timed
out earlier are dropped on the way). ZeroMQ connects in the background and never reports a
refused connection, so a call first waits up to the dial timeout for the socket to be writable
(zmq.IMMEDIATE makes that mean "connected"); not writable is `Unreachable` with nothing sent.
No answer in time is `DeadlineExceeded`, and the socket is replaced so a late answer cannot
be mistaken for a later call's. Keep-alive is unary in the native protocol (one call per
renewal), so its "stream" is the answers to its requests. Watch streams run on a second
connection, shared by every watch of the transport (zmq_stream.StreamMux).
"""
from __future__ import annotations

import itertools
import threading
import time

import msgpack
import zmq

from . import convert, errors
from .endpoints import Endpoint
from .rpc import RPCS
from .zmq_stream import StreamMux


class ZmqTransport:
    def __init__(self, endpoint: Endpoint, dial_timeout_s: float = 2.0,
                 context: zmq.Context | None = None, curve=None) -> None:
        """curve: a client/curve.CurveConfig, for a member that requires CURVE."""
        self.endpoint = endpoint
        self.dial_timeout_s = dial_timeout_s
        self.ctx = context or zmq.Context.instance()
        self._sock: zmq.Socket | None = None
        self._streams: StreamMux | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.token = ""  # the auth token sent with every call (Client sets it)
        self.curve = curve

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.IMMEDIATE, 1)
            if self.curve is not None:
                self.curve.apply(s)
            s.connect(f"tcp://{self.endpoint.host}:{self.endpoint.port}")
            self._sock = s
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def call(self, method: str, request: object, timeout_s: float) -> object:
        rpc = RPCS[method]
        if rpc.stream and method not in _UNARY_HERE:
            raise errors.Unimplemented(f"{method} is not in the native protocol yet; "
                                       "use an http:// endpoint")
        rid = next(self._ids)
        doc = {"id": rid, "method": method, "request": convert.dump(request, "native")}
        if self.token:
            doc["token"] = self.token
        frame = msgpack.packb(doc, use_bin_type=True)
        with self._lock:
            sock = self._socket()
            if not sock.poll(int(self.dial_timeout_s * 1000), zmq.POLLOUT):
                self._drop()
                err = errors.Unreachable(f"dial tcp {self.endpoint.hostport}: "
                                         "no connection (native protocol)")
                err.sent = False
                raise err
            sock.send(frame)
            deadline = time.monotonic() + timeout_s
            while True:
                left_ms = int((deadline - time.monotonic()) * 1000)
                if left_ms <= 0 or not sock.poll(left_ms, zmq.POLLIN):
                    self._drop()
                    err = errors.DeadlineExceeded("context deadline exceeded")
                    err.sent = True
                    raise err
                ans = msgpack.unpackb(sock.recv(), raw=False, strict_map_key=False)
                if ans.get("id") == rid:
                    break
        err = errors.from_answer(ans)
        if err is not None:
            if err.code == 12 and "unknown method" in err.message:
                err = errors.Unimplemented(f"{err.message}: the server's native protocol "
                                           "lacks it; use an http:// endpoint")
            raise err
        return convert.load(rpc.response, ans.get("response", {}))

    def get_json(self, path: str, timeout_s: float) -> dict:
        raise errors.Unimplemented(f"{path} is HTTP only; use an http:// endpoint")

    def stream(self, method: str, requests: list, timeout_s: float | None,
               require_leader: bool = False):
        if method in _UNARY_HERE:
            return _Answers(self.call(method, r, timeout_s or 5.0) for r in requests)
        if method == "Watch":
            with self._lock:
                if self._streams is None:
                    self._streams = StreamMux(self.endpoint.hostport, self.ctx, self.curve)
                mux = self._streams
            st = mux.open(self.dial_timeout_s, require_leader=require_leader, token=self.token)
            for r in requests:
                st.send_request(r)
            return st
        raise errors.Unimplemented(f"{method} streams are not in the native protocol yet; "
                                   "use an http:// endpoint")

    def close(self) -> None:
        with self._lock:
            self._drop()
            mux, self._streams = self._streams, None
        if mux is not None:
            mux.close()


# Streams over HTTP that the native protocol serves as one call per request.
_UNARY_HERE = {"LeaseKeepAlive"}


class _Answers:
    """A finished "stream": the answers of unary calls, iterated lazily."""

    def __init__(self, answers) -> None:
        self._answers = iter(answers)

    def __iter__(self):
        return self._answers

    def close(self) -> None:
        pass
