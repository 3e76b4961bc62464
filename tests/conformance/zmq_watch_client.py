"""A raw client of petcd's native watch streams (stages/api/native/stream.py), for tests and
benches: one DEALER connection, frames sorted per stream as they arrive.

Responses are acknowledged as they are read (`auto_ack`), or only by `ack()`; nothing pings
by itself (a test that idles longer than the server's keepalive calls `ping()`). Reads block
up to `timeout_s`: a missing frame is a failure, never a wait that passes.
"""
from __future__ import annotations

import time
from collections import deque

import msgpack
import zmq


class ZWatchConn:
    def __init__(self, port: int, timeout_s: float = 10.0, auto_ack: bool = True) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.timeout_s = timeout_s
        self.auto_ack = auto_ack
        self.responses: dict[int, deque] = {}
        self.control: dict[int, deque] = {}
        self.received_bytes: dict[int, int] = {}
        self._pings = 0

    def _send(self, doc: dict) -> None:
        self.sock.send(msgpack.packb(doc, use_bin_type=True))

    def open(self, sid: int, require_leader: bool = False, window_bytes: int = 0) -> dict:
        """Open a stream; the server's first answer (opened, or error)."""
        o = {"method": "Watch", "require_leader": require_leader}
        if window_bytes:
            o["window_bytes"] = window_bytes
        self._send({"stream": sid, "open": o})
        return self.frame(sid)

    def request(self, sid: int, request: dict) -> None:
        self._send({"stream": sid, "request": request})

    def create(self, sid: int, key: bytes, **kw) -> None:
        self.request(sid, {"create_request": {"key": key, **kw}})

    def ack(self, sid: int, n: int) -> None:
        self._send({"stream": sid, "ack": n})

    def ping(self, sid: int) -> dict:
        self._pings += 1
        self._send({"stream": sid, "ping": self._pings})
        return self.frame(sid)

    def close_stream(self, sid: int) -> None:
        self._send({"stream": sid, "close": True})

    def _pump(self, timeout_s: float) -> bool:
        if not self.sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            return False
        raw = self.sock.recv()
        doc = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        sid = doc["stream"]
        if "responses" in doc:
            self.responses.setdefault(sid, deque()).extend(doc["responses"])
            self.received_bytes[sid] = self.received_bytes.get(sid, 0) + len(raw)
            if self.auto_ack:
                self.ack(sid, len(raw))
        else:
            self.control.setdefault(sid, deque()).append(doc)
        return True

    def _wait(self, queues: dict, sid: int, timeout_s: float | None):
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while not queues.get(sid):
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(left):
                raise TimeoutError(f"nothing for stream {sid} in time")
        return queues[sid].popleft()

    def read(self, sid: int, timeout_s: float | None = None) -> dict:
        """The stream's next WatchResponse (a map)."""
        return self._wait(self.responses, sid, timeout_s)

    def frame(self, sid: int, timeout_s: float | None = None) -> dict:
        """The stream's next frame that is not responses (opened, pong, error, closed)."""
        return self._wait(self.control, sid, timeout_s)

    def quiet(self, sid: int, wait_s: float) -> bool:
        """True if no response arrives for the stream within wait_s."""
        try:
            self.read(sid, wait_s)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.sock.close(0)
