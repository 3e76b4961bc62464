"""One client watch stream: etcd's serverWatchStream, without the transport.

Theory of operation. A front end (HTTP, ZeroMQ) decodes WatchRequests and calls `request()`;
`run()` writes the stream's responses through the front end's `send(list[WatchResponse])`
coroutine, several per call when they have queued up. The stream owns the watch ids (auto ids
from 0, skipping ids in use, as etcd's watchStream), turns create/cancel/progress requests into
hub calls and control responses, and is the hub's Sink: event responses and compaction cancels
come from the hub and queue behind the control responses already queued, so a watcher's
`created` always precedes its events and its events precede its `canceled`.

Response shapes and header revisions are etcd 3.4's (v3rpc/watch.go, mvcc/watchable_store.go):
created and cancel responses carry the current revision; progress_request gets
`watch_id: -1` and the current revision; progress_notify sends `{header, watch_id}` to synced
watchers that had no events since the previous tick; a compacted watcher gets a header without
revision, `canceled` and `compact_revision`, and keeps its id until canceled. Fragmenting
watchers get responses above `fragment_bytes` split by protobuf size (sendFragments).
A create past --max-watchers-per-stream (petcd's bound; etcd has none) is refused as etcd
refuses a bad create, created and canceled at once, with "etcdserver: too many requests" as
its cancel reason; the stream goes on.

A stream opened with has-leader metadata (`require_leader`) is ended with etcd's "no leader"
error by `abort()` when its member has lost its leader for a while (leader_monitor.py); the
front end writes `error` as the stream's last message.

Must never: block the loop on a slow client (the hub bounds what it buffers here), send a
watcher's events before its created response, or answer a cancel of an unknown id.
"""
from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from typing import Awaitable, Callable

from petcd.common import failpoint
from petcd.common.errors import ErrTooManyRequests, EtcdError
from petcd.common.kv import (
    Event, WatchCreateRequest, WatchRequest, WatchResponse,
)
from petcd.common.proto_size import event_field_size, response_size, response_size_without_events
from . import limits
from .watch_hub import FROM_KEY, SINGLE_KEY, Watcher, WatchHub

ERR_DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream"
ERR_EMPTY_RANGE = "mvcc: watcher range is empty"
# Responses written per call of `send` at most (a burst is one HTTP chunk, one syscall).
SEND_BATCH = 256


def fragments(wr: WatchResponse, limit_bytes: int) -> list[WatchResponse]:
    """etcd's sendFragments: parts below limit_bytes (a lone event may exceed it), every part
    but the last with fragment=true, all with the same header and watch id."""
    if len(wr.events) < 2 or response_size(wr) < limit_bytes:
        return [wr]
    base = dataclasses.replace(wr, events=(), fragment=True)
    base_size = response_size_without_events(base)
    out, cur, size = [], [], base_size
    for ev in wr.events:
        s = event_field_size(ev)
        if cur and size + s >= limit_bytes:
            out.append(dataclasses.replace(base, events=tuple(cur)))
            cur, size = [], base_size
        cur.append(ev)
        size += s
    out.append(dataclasses.replace(base, events=tuple(cur), fragment=False))
    return out


class WatchStream:
    def __init__(self, hub: WatchHub, header: Callable, send: Callable[[list], Awaitable],
                 *, fragment_bytes: int, progress_interval_s: float,
                 max_backlog: int = 64, require_leader: bool = False,
                 permit: Callable[[bytes, bytes], str | None] | None = None,
                 max_watchers: int = 10_000, front_end: str = "") -> None:
        """header(revision) -> ResponseHeader; send(responses) writes them to the client;
        permit(key, range_end): why the stream's user may not watch that range (a cancel
        reason), or None; max_watchers: --max-watchers-per-stream; front_end: whose stream
        it is ("http", "grpc", "zmq"), for the count of refusals (limits.py)."""
        self.permit = permit
        self.max_watchers = max_watchers
        self.front_end = front_end
        self.hub = hub
        self.header = header
        self._send = send
        self.fragment_bytes = fragment_bytes
        self.progress_interval_s = progress_interval_s
        self.max_backlog = max_backlog
        self.require_leader = require_leader
        self.error: EtcdError | None = None  # why the server ended the stream, if it did
        self.watchers: dict[int, Watcher] = {}
        self._next_id = 0
        self._out: deque[tuple[Watcher | None, WatchResponse]] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.closed = asyncio.Event()
        self._progress_timer: asyncio.TimerHandle | None = None
        self.closed_callback: Callable[[WatchStream], None] | None = None  # the registry's

    # -- requests -------------------------------------------------------------------------------

    async def wait_room(self) -> None:
        """Wait while the client leaves many responses unread (etcd's ctrlStream is bounded:
        its recvLoop blocks; so does the caller's reading of requests)."""
        while len(self._out) > self.max_backlog and not self.closed.is_set():
            self._room.clear()
            await self._room.wait()

    def request(self, req: WatchRequest) -> None:
        if self.closed.is_set():
            return
        if req.create_request is not None:
            self._create(req.create_request)
        elif req.cancel_request is not None:
            self._cancel(req.cancel_request.watch_id)
        elif req.progress_request is not None:
            # 3.4: not tied to a watcher; all events up to the revision were queued before it.
            self._push(None, WatchResponse(header=self.header(self.hub.refresh()), watch_id=-1))
        # an empty request: etcd ignores it and keeps the stream

    def _create(self, c: WatchCreateRequest) -> None:
        rev = self.hub.refresh()
        if self.permit is not None:
            refused = self.permit(c.key, c.range_end)
            if refused is not None:
                return self._refuse(rev, refused)
        end = SINGLE_KEY if not c.range_end else FROM_KEY if c.range_end == b"\0" else c.range_end
        if end and c.key >= end:
            return self._refuse(rev, ERR_EMPTY_RANGE)
        wid = c.watch_id
        if wid != 0 and wid in self.watchers:
            return self._refuse(rev, ERR_DUPLICATE_ID)
        if len(self.watchers) >= self.max_watchers:
            # etcd has no such bound; its nearest error text, as a cancel, keeps the stream
            limits.hit(self.front_end, "watchers")
            return self._refuse(rev, ErrTooManyRequests.message)
        if wid == 0:  # AutoWatchID
            while self._next_id in self.watchers:
                self._next_id += 1
            wid = self._next_id
            self._next_id += 1
        w = Watcher(wid, c.key, end, c.start_revision or rev + 1, self,
                    filters=c.filters, prev_kv=c.prev_kv, fragment=c.fragment,
                    progress_notify=c.progress_notify)
        self.watchers[wid] = w
        self._push(None, WatchResponse(header=self.header(rev), watch_id=wid, created=True))
        self.hub.add(w)
        if c.progress_notify and self._progress_timer is None:
            self._arm_progress()

    def _refuse(self, rev: int, reason: str) -> None:
        self._push(None, WatchResponse(header=self.header(rev), watch_id=-1, created=True,
                                       canceled=True, cancel_reason=reason))

    def _cancel(self, wid: int) -> None:
        w = self.watchers.pop(wid, None)
        if w is None:
            return  # etcd answers nothing
        self.hub.remove(w)
        self._push(None, WatchResponse(header=self.header(self.hub.refresh()), watch_id=wid,
                                       canceled=True))

    # -- the hub's Sink -------------------------------------------------------------------------

    def deliver(self, w: Watcher, events: list[Event], header_revision: int) -> None:
        self._push(w, WatchResponse(header=self.header(header_revision), watch_id=w.id,
                                    events=tuple(events)))

    def compacted(self, w: Watcher, compact_revision: int) -> None:
        # etcd sends a header without revision here; the id stays taken until canceled.
        self._push(None, WatchResponse(header=self.header(0), watch_id=w.id, canceled=True,
                                       compact_revision=compact_revision))

    # -- progress notifications -----------------------------------------------------------------

    def _arm_progress(self) -> None:
        loop = asyncio.get_running_loop()
        self._progress_timer = loop.call_later(self.progress_interval_s, self._progress_tick)

    def _progress_tick(self) -> None:
        self._progress_timer = None
        if self.closed.is_set():
            return
        notified = [w for w in self.watchers.values() if w.progress_notify]
        due = [w for w in notified if w.progress_due]
        # Catch up first, then look at each watcher: the catch-up can unsync one (its buffer
        # overflowed, or compaction overtook it), and a notify at the new revision would then
        # claim events it has not been sent (robustness seed 35002).
        rev = self.hub.refresh() if due else 0
        for w in due:
            if w.in_hub and w.synced:
                self._push(None, WatchResponse(header=self.header(rev), watch_id=w.id))
        for w in notified:
            w.progress_due = True
        if notified:
            self._arm_progress()

    # -- writing --------------------------------------------------------------------------------

    def _push(self, w: Watcher | None, resp: WatchResponse) -> None:
        self._out.append((w, resp))
        self._wake.set()

    async def run(self) -> None:
        """Write responses until close(); returns when closed or when send fails."""
        out = self._out
        while not self.closed.is_set():
            if not out:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch: list[WatchResponse] = []
            taken: list[tuple[Watcher, int]] = []
            while out and len(batch) < SEND_BATCH:
                w, resp = out.popleft()
                if w is not None:
                    taken.append((w, len(resp.events)))
                    if w.fragment:
                        batch.extend(fragments(resp, self.fragment_bytes))
                        continue
                batch.append(resp)
            if len(out) <= self.max_backlog:
                self._room.set()
            failpoint.hit("watch.before_send")
            await self._send(batch)
            for w, n in taken:
                w.pending_events -= n
                w.progress_due = False
                if w.pending_events == 0:
                    self.hub.drained(w)

    async def serve(self, read_requests: Callable[[], Awaitable]) -> None:
        """Run the stream for a front end: `read_requests()` reads the client's requests (and
        hands them to request()), run() writes the responses, until the stream is closed (by
        the client, the server, a failed write or a reader that failed); then both end."""
        reader = asyncio.create_task(read_requests())
        writer = asyncio.create_task(self.run())
        writer.add_done_callback(lambda _: self.close())
        reader.add_done_callback(
            lambda t: t.cancelled() or t.exception() is None or self.close())
        try:
            await self.closed.wait()
        finally:
            self.close()
            for t in (reader, writer):
                t.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)

    def abort(self, error: EtcdError) -> None:
        """End the stream with an error (its front end sends `error` last)."""
        if not self.closed.is_set():
            self.error = error
            self.close()

    def close(self) -> None:
        """Drop every watcher of the stream (the client went away, or the server stops)."""
        if self.closed.is_set():
            return
        self.closed.set()
        self._wake.set()
        self._room.set()
        if self._progress_timer is not None:
            self._progress_timer.cancel()
            self._progress_timer = None
        for w in self.watchers.values():
            self.hub.remove(w)
        self.watchers.clear()
        self._out.clear()
        if self.closed_callback is not None:
            self.closed_callback(self)
