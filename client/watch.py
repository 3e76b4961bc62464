"""Watching keys over a watch stream, resuming after a reconnect.

Theory of operation: a Watch opens a watch stream with one create request and reads its
answers: `POST /v3/watch` and its newline-delimited answers over HTTP, or a native stream
(zmq_stream.py) on the endpoint's shared ZeroMQ watch connection over `tcp://`. It remembers
the next revision it needs: after the created answer, header.revision + 1 (or the requested
start revision); after each event batch, the last event's mod_revision + 1. If the stream
breaks (member down, connection reset), it reopens on the next endpoint with start_revision set
to that revision, so no event is lost or repeated.
If that history was compacted, the server cancels the watch with compact_revision and the Watch
raises errors.WatchCompacted (the caller must re-read the state, then watch from there).
With `require_leader` (etcd's WithRequireLeader) a member without a leader refuses or ends the
stream ("etcdserver: no leader"), and the Watch moves to the next endpoint the same way.
Iterating yields WatchResponses that carry events; `cancel()` (any thread) ends the iteration.
`start_callback(fn)` runs the iteration on a daemon thread and calls fn per response; an error
ends the thread, is kept in `error`, and is passed to `on_error` if given.
"""
from __future__ import annotations

import dataclasses
import threading
import time

from . import errors, messages as m


class Watch:
    def __init__(self, client, create: m.WatchCreateRequest,
                 require_leader: bool = False) -> None:
        self.client = client
        self.create = create
        self.require_leader = require_leader
        self.next_revision = create.start_revision
        self.canceled = False
        self.error: BaseException | None = None
        self._stream = None
        self._thread: threading.Thread | None = None
        self._reconnects = 0
        self.created = threading.Event()

    def _open(self) -> None:
        req = dataclasses.replace(self.create, start_revision=self.next_revision)
        self._stream = self.client.transport().stream(
            "Watch", [m.WatchRequest(create_request=req)], None,
            require_leader=self.require_leader)

    def __iter__(self):
        return self

    def __next__(self) -> m.WatchResponse:
        while True:
            if self.canceled:
                raise StopIteration
            try:
                if self._stream is None:
                    self._open()
                resp = next(self._stream)
            except StopIteration:
                resp = None  # the server ended the stream: reconnect below
            except errors.Unavailable:
                resp = None
            if resp is None:
                if self.canceled:
                    raise StopIteration
                self._reconnect()
                continue
            self._reconnects = 0
            if resp.created and not resp.canceled:
                if self.next_revision == 0 and resp.header is not None:
                    self.next_revision = resp.header.revision + 1
                self.created.set()
                continue
            if resp.canceled:
                self._close_stream()
                if resp.compact_revision:
                    raise errors.WatchCompacted(resp.compact_revision)
                raise errors.WatchCanceled(resp.cancel_reason or "watch canceled by the server")
            if resp.events:
                self.next_revision = resp.events[-1].kv.mod_revision + 1
                return resp
            if resp.header is not None and resp.header.revision >= self.next_revision:
                self.next_revision = resp.header.revision + 1  # a progress notification

    def _reconnect(self) -> None:
        self._close_stream()
        idx = self.client._current
        self.client._next_endpoint(idx)
        self._reconnects += 1
        time.sleep(self.client.retry.backoff_s(min(self._reconnects, 6)))

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def cancel(self) -> None:
        self.canceled = True
        self._close_stream()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    close = cancel

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()

    def start_callback(self, callback, on_error=None) -> Watch:
        def run() -> None:
            try:
                for resp in self:
                    callback(resp)
            except BaseException as e:  # kept for the owner; a thread must not die loudly
                self.error = e
                if on_error is not None:
                    on_error(e)
        self._thread = threading.Thread(target=run, daemon=True, name="watch")
        self._thread.start()
        return self
