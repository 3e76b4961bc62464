"""Streams in the native protocol: the frames of a watch stream, and its credit.

Theory of operation. A unary call is a frame with an `id` (native.py). A frame with a `stream`
key instead belongs to a stream: a positive integer the client picks, unique among the open
streams of its connection, so one ZeroMQ connection carries many streams (and each watch stream
many watchers, as one gRPC Watch stream does). Client to server, one operation per frame:

    {"stream": S, "open": {"method": "Watch", "require_leader": bool, "window_bytes": int}}
    {"stream": S, "request": {<WatchRequest: create_request | cancel_request | progress_request>}}
    {"stream": S, "ack": <bytes>}        response bytes consumed (returns credit)
    {"stream": S, "ping": <int>}         keeps the stream alive; answered with pong
    {"stream": S, "close": true}

Server to client:

    {"stream": S, "opened": {"window_bytes": int, "keepalive_ms": int}}
    {"stream": S, "responses": [<WatchResponse>, ...]}   in order, several per frame
    {"stream": S, "pong": <int>}
    {"stream": S, "closed": true}                        after the client's close
    {"stream": S, "error": {"code": int, "message": str}}  the stream is over (no leader,
                                                           expired, bad frame, server stopped)

Flow control is a byte credit per stream, as HTTP/2's stream window: the server sends a
responses frame only while the bytes it sent and the client has not acknowledged are below the
window (so at most window + one frame is ever queued for a stream), and the client acknowledges
bytes as its application consumes them. A ROUTER socket drops what it cannot queue, silently;
credit keeps the queues short, and the front end (watch.py) never drops a frame of a stream.

Pure: no sockets, no clock. Must never: accept a frame that names no stream as a stream frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import msgpack

from petcd.common.errors import EtcdError
from .codec import NativeError, to_map


@dataclass(frozen=True, slots=True)
class StreamOpen:
    stream: int
    method: str
    require_leader: bool = False
    window_bytes: int = 0  # 0: the server's window
    token: str = ""  # the auth token the stream's requests are made with


@dataclass(frozen=True, slots=True)
class StreamRequest:
    stream: int
    request: dict  # a WatchRequest map, typed by the front end


@dataclass(frozen=True, slots=True)
class StreamAck:
    stream: int
    bytes: int


@dataclass(frozen=True, slots=True)
class StreamPing:
    stream: int
    nonce: int


@dataclass(frozen=True, slots=True)
class StreamClose:
    stream: int


class StreamFrameError(NativeError):
    """A malformed stream frame; `stream` is its stream id where one could be read."""

    def __init__(self, stream: int, message: str) -> None:
        super().__init__(message)
        self.stream = stream


def is_stream_frame(doc: object) -> bool:
    return isinstance(doc, dict) and "stream" in doc and "id" not in doc


def _int(v, what: str, sid: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise StreamFrameError(sid, f"{what} must be an integer")
    return v


def parse(doc: dict):
    """The operation in a stream frame (is_stream_frame(doc) holds)."""
    sid = doc.get("stream")
    if not isinstance(sid, int) or isinstance(sid, bool) or sid <= 0:
        raise StreamFrameError(0, "stream must be a positive integer")
    if "open" in doc:
        o = doc["open"]
        if not isinstance(o, dict):
            raise StreamFrameError(sid, "open must be a map")
        method = o.get("method", "Watch")
        if not isinstance(method, str):
            raise StreamFrameError(sid, "method must be a string")
        leader = o.get("require_leader", False)
        if not isinstance(leader, bool):
            raise StreamFrameError(sid, "require_leader must be a boolean")
        window = _int(o.get("window_bytes", 0), "window_bytes", sid)
        token = o.get("token", "")
        if not isinstance(token, str):
            raise StreamFrameError(sid, "token must be a string")
        return StreamOpen(sid, method, leader, max(0, window), token)
    if "request" in doc:
        req = doc["request"]
        if not isinstance(req, dict):
            raise StreamFrameError(sid, "request must be a map")
        return StreamRequest(sid, req)
    if "ack" in doc:
        return StreamAck(sid, max(0, _int(doc["ack"], "ack", sid)))
    if "ping" in doc:
        return StreamPing(sid, _int(doc["ping"], "ping", sid))
    if doc.get("close") is True:
        return StreamClose(sid)
    raise StreamFrameError(sid, "a stream frame needs one of open, request, ack, ping, close")


# -- server to client -----------------------------------------------------------------------

_packer = msgpack.Packer(use_bin_type=True)
_RESPONSES_KEY = _packer.pack("responses")
_STREAM_KEY = _packer.pack("stream")


def _frame(sid: int, key: str, value) -> bytes:
    return msgpack.packb({"stream": sid, key: value}, use_bin_type=True)


def opened(sid: int, window_bytes: int, keepalive_ms: int) -> bytes:
    return _frame(sid, "opened", {"window_bytes": window_bytes, "keepalive_ms": keepalive_ms})


def pong(sid: int, nonce: int) -> bytes:
    return _frame(sid, "pong", nonce)


def closed(sid: int) -> bytes:
    return _frame(sid, "closed", True)


def error(sid: int, err: EtcdError) -> bytes:
    return _frame(sid, "error", {"code": int(err.code), "message": err.message})


def response_frames(sid: int, responses: list, max_frame_bytes: int) -> list[bytes]:
    """The responses, in order, as frames of at most max_frame_bytes (a response larger than
    that goes alone). Each response is packed once; a frame is the packed responses under a
    hand-written map and array header, so nothing is packed twice."""
    head = _packer.pack_map_header(2) + _STREAM_KEY + _packer.pack(sid) + _RESPONSES_KEY
    out, cur, size = [], [], len(head) + 5
    for r in responses:
        b = msgpack.packb(to_map(r), use_bin_type=True)
        if cur and size + len(b) > max_frame_bytes:
            out.append(head + _packer.pack_array_header(len(cur)) + b"".join(cur))
            cur, size = [], len(head) + 5
        cur.append(b)
        size += len(b)
    if cur:
        out.append(head + _packer.pack_array_header(len(cur)) + b"".join(cur))
    return out


class Credit:
    """A stream's send window in bytes: send while in_flight < window_bytes."""
    __slots__ = ("window_bytes", "in_flight")

    def __init__(self, window_bytes: int) -> None:
        self.window_bytes = window_bytes
        self.in_flight = 0

    def can_send(self) -> bool:
        # Below the window, one more frame may go whatever its size: a response larger than
        # the window still gets through, and the overshoot is at most one frame.
        return self.in_flight < self.window_bytes

    def sent(self, n: int) -> None:
        self.in_flight += n

    def ack(self, n: int) -> None:
        # A client acknowledging more than was sent (a bug, or acks crossing a restart) cannot
        # buy credit beyond the window.
        self.in_flight = max(0, self.in_flight - n)
