"""Keeping leases alive from a background thread.

Theory of operation: `KeepAlive(client, id)` refreshes the lease every `interval_s` (a third
of the granted TTL by default, as clientv3 does, so two refreshes can be lost before expiry)
by one keep-alive exchange each time. An answer with TTL 0 means the lease is gone: the thread
stops and `error` says why (`NotFound`), and `alive` turns false. Transient failures are
retried at the next tick; the thread never raises into the caller. `Lease` grants a lease,
keeps it alive for a `with` block, and revokes it at the end.
"""
from __future__ import annotations

import threading

from . import errors


class KeepAlive:
    def __init__(self, client, lease_id: int, *, interval_s: float | None = None) -> None:
        self.client = client
        self.lease_id = lease_id
        self.interval_s = interval_s
        self.ttl_s: int | None = None
        self.error: errors.ClientError | None = None
        self.refreshes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self.error is None or not isinstance(self.error, errors.NotFound)

    def start(self) -> KeepAlive:
        self._refresh()  # the first refresh happens now, so a bad id fails at once
        if self.error is not None and isinstance(self.error, errors.NotFound):
            raise self.error
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"keepalive-{self.lease_id:x}")
        self._thread.start()
        return self

    def _refresh(self) -> None:
        try:
            resp = self.client.lease_keep_alive_once(self.lease_id)
        except errors.ClientError as e:
            self.error = e
            return
        if resp.ttl <= 0:
            self.error = errors.NotFound("etcdserver: requested lease not found")
            return
        self.ttl_s, self.error = resp.ttl, None
        self.refreshes += 1

    def _run(self) -> None:
        while True:
            interval = self.interval_s or max(0.5, (self.ttl_s or 3) / 3.0)
            if self._stop.wait(interval):
                return
            self._refresh()
            if isinstance(self.error, errors.NotFound):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> KeepAlive:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Lease:
    """with client.lease(10) as lease: client.put("k", "v", lease=lease.id)"""

    def __init__(self, client, ttl_s: int, *, keep_alive: bool = True) -> None:
        self.client, self.ttl_s, self.keep_alive = client, ttl_s, keep_alive
        self.id = 0
        self._ka: KeepAlive | None = None

    def __enter__(self) -> Lease:
        self.id = self.client.lease_grant(self.ttl_s).id
        if self.keep_alive:
            self._ka = KeepAlive(self.client, self.id).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._ka is not None:
            self._ka.stop()
        try:
            self.client.lease_revoke(self.id)
        except errors.NotFound:
            pass  # expired meanwhile: nothing to revoke
