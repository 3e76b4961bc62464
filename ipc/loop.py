"""The event loop of a synchronous stage: a ZeroMQ poller plus periodic timers.

Theory of operation: `run()` waits on the poller until a registered socket is readable or the
next timer is due, then calls the readable sockets' handlers (each drains its socket in a
batch) and the due timers, then `after_turn` hooks (where a stage flushes what the turn
produced, e.g. the raft stage's Ready). Timers are periodic, on time.monotonic, and never run
twice to catch up: a tick that is late is late, not doubled (Raft needs ticks, not time).
"""
from __future__ import annotations

import signal
import time
from math import ceil
from typing import Callable

import zmq

# Plain ints: the poller reports int masks, and `int & zmq.POLLIN` (an enum) costs a
# Python-level enum call on every event of every turn.
_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)


class Loop:
    def __init__(self) -> None:
        self.poller = zmq.Poller()
        self._handlers: dict[zmq.Socket, Callable[[], None]] = {}
        self._writers: dict[zmq.Socket, Callable[[], None]] = {}
        self._timers: list[list] = []  # [next_due, interval_s, fn]
        self._after_turn: list[Callable[[], None]] = []
        self.running = False

    def on_readable(self, socket: zmq.Socket, handler: Callable[[], None]) -> None:
        self.poller.register(socket, zmq.POLLIN)
        self._handlers[socket] = handler

    def on_writable(self, socket: zmq.Socket, handler: Callable[[], None]) -> None:
        """Call `handler` while `socket` can take a message; `forget` it when done."""
        self.poller.register(socket, zmq.POLLOUT)
        self._writers[socket] = handler

    def forget(self, socket: zmq.Socket) -> None:
        self.poller.unregister(socket)
        self._handlers.pop(socket, None)
        self._writers.pop(socket, None)

    def every(self, interval_s: float, fn: Callable[[], None]) -> None:
        self._timers.append([time.monotonic() + interval_s, interval_s, fn])

    def after_turn(self, fn: Callable[[], None]) -> None:
        self._after_turn.append(fn)

    def stop(self, *_: object) -> None:
        self.running = False

    def stop_on_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self) -> None:
        self.running = True
        while self.running:
            now = time.monotonic()
            timeout_ms = 1000.0
            for t in self._timers:
                timeout_ms = min(timeout_ms, max(0.0, (t[0] - now) * 1000.0))
            try:
                # Rounded up: pyzmq truncates a float timeout to whole milliseconds, and
                # 0.7 ms becoming 0 made every loop spin through the last millisecond
                # before each of its timers.
                events = self.poller.poll(ceil(timeout_ms))
            except zmq.ZMQError:
                if not self.running:
                    break
                raise
            for sock, ev in events:
                if ev & _POLLIN and sock in self._handlers:
                    self._handlers[sock]()
                if ev & _POLLOUT and sock in self._writers:
                    self._writers[sock]()
            now = time.monotonic()
            for t in self._timers:
                if now >= t[0]:
                    t[0] += t[1]
                    if t[0] <= now:
                        t[0] = now + t[1]  # late: skip, never fire twice to catch up
                    t[2]()
            for fn in self._after_turn:
                fn()
