"""Watch streams of a robustness run, recorded response by response.

Theory of operation: each watcher thread opens `POST /v3/watch` on its member for the keys'
prefix with prev_kv and progress notifications, starting at an offset around the current
revision (−100..+100, future revisions included, as etcd's robustness clients do). Every
response is recorded with its receive time. When a stream breaks (its member was killed or
cut off), the watcher opens a new one on the next member, resuming after the last revision it
saw; each stream is checked on its own (watch_check.py). At the end the watcher runs until it
has seen `until_revision` (the run's last write), so reliability covers the whole run.

Secure mode (secure.py): streams go over TLS with the traffic user's token. A watch refused
for its token (its member restarted) answers created and canceled with the refusal as its
cancel reason, before any event: that stream delivered nothing, so it is dropped, and the
watcher logs in again and opens it once more on the same member.
"""
from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field

from tests.conformance.watch_client import WatchConn
from .secure import RELOGIN_MESSAGES, Security
from .traffic import PREFIX, PREFIX_END, b64

READ_TIMEOUT_S = 1.0


@dataclass
class RawStream:
    watcher_id: int
    member: str
    start_revision: int
    opened_ns: int
    responses: list[tuple[int, dict]] = field(default_factory=list)  # (received_ns, result)
    error: str | None = None


class TokenRefused(Exception):
    """The member refused the stream's token: log in again and reopen it there."""


class Watcher:
    def __init__(self, watcher_id: int, ports: dict[str, int], names: list[str],
                 start_revision: int, security: Security | None = None) -> None:
        self.watcher_id = watcher_id
        self.security = security
        self.ports = ports
        self.names = names
        self.next_revision = start_revision
        self.streams: list[RawStream] = []
        self.last_revision = 0
        self.until_revision: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        member = 0
        while not self._stop.is_set() and not self._done():
            name = self.names[member % len(self.names)]
            stream = RawStream(self.watcher_id, name, self.next_revision, time.monotonic_ns())
            self.streams.append(stream)
            try:
                self._follow(stream, self.ports[name])
            except TokenRefused:
                self.streams.remove(stream)   # created and canceled at once: nothing seen
                time.sleep(0.1)
            except (OSError, EOFError, ValueError, ConnectionError) as e:
                stream.error = f"{type(e).__name__}: {e}"
                member += 1
                time.sleep(0.1)

    def _done(self) -> bool:
        return self.until_revision is not None and self.last_revision >= self.until_revision

    def _connect(self, port: int) -> tuple[WatchConn, str | None]:
        if self.security is None:
            return WatchConn(port, timeout_s=READ_TIMEOUT_S), None
        login = self.security.client
        token = login.token(f"https://127.0.0.1:{port}", READ_TIMEOUT_S * 2)
        return self.security.watch_conn(port, token, READ_TIMEOUT_S), token

    def _follow(self, stream: RawStream, port: int) -> None:
        conn, token = self._connect(port)
        try:
            create = {"key": b64(PREFIX), "range_end": b64(PREFIX_END), "prev_kv": True,
                      "progress_notify": True}
            if stream.start_revision > 0:
                create["start_revision"] = str(stream.start_revision)
            conn.send(json.dumps({"create_request": create}))
            while not self._stop.is_set() and not self._done():
                # Progress notifications arrive every 100 ms, so a read that times out means
                # the member is gone or stalled: the stream counts as broken.
                msg = conn.read_line()
                result = msg.get("result")
                if result is None:
                    raise ConnectionError(f"watch error: {msg}")
                if token is not None and result.get("canceled") and \
                        any(m in result.get("cancel_reason", "") for m in RELOGIN_MESSAGES):
                    self.security.client.renew(token, f"https://127.0.0.1:{port}",
                                               READ_TIMEOUT_S * 2)
                    raise TokenRefused(result["cancel_reason"])
                stream.responses.append((time.monotonic_ns(), result))
                events = result.get("events", [])
                if events:
                    rev = int(events[-1]["kv"]["mod_revision"])
                    self.last_revision = max(self.last_revision, rev)
                    self.next_revision = rev + 1
                elif not (result.get("created") or result.get("canceled")):
                    # A progress notification: everything up to its revision was delivered
                    # (a watch of a future revision learns it is done this way).
                    self.last_revision = max(self.last_revision,
                                             int(result.get("header", {}).get("revision", 0)))
                if result.get("canceled"):
                    # Compacted: nothing more to see from here (checked as such).
                    self.next_revision = max(self.next_revision,
                                             int(result.get("compact_revision", 0)))
                    raise ConnectionError("canceled")
        finally:
            conn.close()

    def finish(self, until_revision: int, timeout_s: float) -> bool:
        """Run until the last write was seen (or timeout_s passed); True if it was."""
        self.until_revision = until_revision
        self._thread.join(timeout_s)
        self._stop.set()
        self._thread.join(READ_TIMEOUT_S * 3)
        return self.last_revision >= until_revision

    def stop(self) -> None:
        self._stop.set()


def start_watchers(ports: dict[str, int], current_revision: int, rng: random.Random,
                   per_member: int = 1, cluster_wide: int = 1,
                   security: Security | None = None) -> list[Watcher]:
    names = list(ports)
    watchers = []
    for i in range(per_member * len(names) + cluster_wide):
        order = names[i % len(names):] + names[:i % len(names)]
        start = max(1, current_revision + rng.randint(-100, 100))
        watchers.append(Watcher(i + 1, ports, order, start, security).start())
    return watchers
