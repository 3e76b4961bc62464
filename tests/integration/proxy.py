"""A TCP proxy per directed peer link, so tests can cut and restore links without root."""
from __future__ import annotations

import random
import socket
import threading
import time

from .member import free_port


class LinkProxy:
    """Listens on `port` and forwards to 127.0.0.1:`target`. `cut()` drops every connection and
    refuses new ones until `heal()`. `pause()` stops forwarding but keeps the connections, so
    what was sent waits in the socket buffers and arrives in a burst at `heal()` (stale
    messages after a partition). `delay_s`/`jitter_s` hold each chunk back before forwarding.
    `hold_next(n)` accepts the next n connections and neither forwards nor closes them: the
    far end of a dead link (a crashed host), which answers nothing and never hangs up.
    Bytes are never dropped inside a connection: that would corrupt ZeroMQ's framing, which
    no network does (reference/reliability-testing.md 5)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._cut = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self.delay_s = 0.0
        self.jitter_s = 0.0
        self._conns: list[socket.socket] = []
        self._to_hold = 0
        self.held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            if self._to_hold:
                self._to_hold -= 1
                self.held.append(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                client.close()
                continue
            # The timeout was for the connect only: a link whose far side stays silent (a
            # ROUTER never answers a peer's DEALER; a paused member reads nothing) is not
            # broken, and a proxy that hung up on it would fault every run by itself.
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                while not self._flowing.wait(0.05):
                    if self._cut.is_set() or self._closed:
                        raise OSError("cut while paused")
                data = a.recv(65536)
                if not data or self._cut.is_set():
                    break
                if self.delay_s:
                    time.sleep(max(0.0, self.delay_s + random.uniform(-1, 1) * self.jitter_s))
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:  # shutdown first: close() alone leaves the other thread's recv() holding
                s.shutdown(socket.SHUT_RDWR)  # the socket open, and its peer never hears
            except OSError:
                pass
            s.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def hold_next(self, n: int) -> None:
        self._to_hold = n

    def pause(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._cut.clear()
        self._flowing.set()
        self.delay_s = self.jitter_s = 0.0

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()
        for s in self.held:
            s.close()
