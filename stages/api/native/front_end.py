"""The ZeroMQ front end: etcd's KV API as msgpack maps over a ROUTER socket.

Theory of operation: one ROUTER socket per listen URL; each request frame (format in
codec.py) becomes an asyncio task calling the same service as HTTP, so many calls are in flight
on one connection and answers go back as they complete, tagged with the caller's id. Frames of
watch streams (stream.py) go to the stream table (watch.py). Bad frames get an
INVALID_ARGUMENT error answer; the listener never stops for a client's mistake.

The ROUTER is ROUTER_MANDATORY: it reports a full peer pipe (EAGAIN) and an unknown peer
(EHOSTUNREACH) instead of dropping the frame silently, which the watch streams need. A unary
answer that cannot be queued is still dropped (the client stopped reading, and times out).
"""
from __future__ import annotations

import asyncio
import logging

import zmq

from petcd.common import cluster, kv, lease
from petcd.common.errors import Code, EtcdError
from ..auth_service import request_token
from .. import learner
from . import codec as native, stream as native_stream

# Plain ints: pyzmq's multipart helpers combine its flag enums in Python on every call.
_NOBLOCK, _SNDMORE, _RCVMORE = int(zmq.NOBLOCK), int(zmq.SNDMORE), int(zmq.RCVMORE)

log = logging.getLogger("petcd.api")

METHODS = {
    "Range": kv.RangeRequest, "Put": kv.PutRequest, "DeleteRange": kv.DeleteRangeRequest,
    "Txn": kv.TxnRequest, "Compact": kv.CompactionRequest, "Alarm": cluster.AlarmRequest,
    "MoveLeader": cluster.MoveLeaderRequest, "MemberList": cluster.MemberListRequest,
    "MemberAdd": cluster.MemberAddRequest, "MemberRemove": cluster.MemberRemoveRequest,
    "MemberUpdate": cluster.MemberUpdateRequest, "MemberPromote": cluster.MemberPromoteRequest,
    "Status": cluster.StatusRequest, "Defragment": cluster.DefragmentRequest,
    "LeaseGrant": lease.LeaseGrantRequest, "LeaseRevoke": lease.LeaseRevokeRequest,
    "LeaseKeepAlive": lease.LeaseKeepAliveRequest,
    "LeaseTimeToLive": lease.LeaseTimeToLiveRequest, "LeaseLeases": lease.LeaseLeasesRequest,
}


class ZmqFrontEnd:
    def __init__(self, service, status, members, max_frame_bytes: int, leases=None,
                 member_service=None, is_learner=lambda: False, streams=None,
                 heartbeat_ms: int = 0, extra_methods: dict | None = None) -> None:
        """streams: a watch.ZmqWatchStreams (None: no watch); heartbeat_ms: the ZMTP
        heartbeat interval (dead connections are dropped after 3 intervals; 0: off);
        extra_methods: method name -> (request type, handler), more unary calls (etcd's
        method names, as gRPC's table has them)."""
        self.handlers = {
            "Range": service.range, "Put": service.put, "DeleteRange": service.delete_range,
            "Txn": service.txn, "Compact": service.compact,
            "Status": lambda _: status(), "MemberList": lambda _: members(),
            "Alarm": service.alarm, "MoveLeader": service.move_leader,
            "Defragment": service.defragment,
        }
        if leases is not None:
            # Keep-alive is unary here: a client renews by sending it again (no stream needed
            # on a connection that already multiplexes requests).
            self.handlers.update({
                "LeaseGrant": leases.grant, "LeaseRevoke": leases.revoke,
                "LeaseKeepAlive": leases.keep_alive, "LeaseTimeToLive": leases.time_to_live,
                "LeaseLeases": leases.leases})
        if member_service is not None:
            self.handlers.update({
                "MemberAdd": member_service.add, "MemberRemove": member_service.remove,
                "MemberUpdate": member_service.update, "MemberPromote": member_service.promote})
        self.methods = dict(METHODS)
        for name, (cls, handler) in (extra_methods or {}).items():
            self.methods[name] = cls
            self.handlers[name] = handler
        self.is_learner = is_learner
        self.max_frame_bytes = max_frame_bytes
        self.streams = streams
        if streams is not None:
            streams.after_send = self._recheck
        self.heartbeat_ms = heartbeat_ms
        self.sockets: list[zmq.Socket] = []
        self._tasks: set[asyncio.Task] = set()
        self._rechecks: set[zmq.Socket] = set()
        self._outbox: dict[zmq.Socket, list[tuple[bytes, bytes]]] = {}

    def bind(self, ctx: zmq.Context, urls, curve_keys: tuple[bytes, bytes] | None = None) -> None:
        """curve_keys: (public, secret) to serve CURVE only (`ctx` then has a ZAP
        authenticator that knows the clients' keys: curve.py)."""
        for url in urls:
            sock = ctx.socket(zmq.ROUTER)
            sock.setsockopt(zmq.LINGER, 0)
            if curve_keys is not None:
                sock.curve_server = True
                sock.curve_publickey, sock.curve_secretkey = curve_keys
            # Refuse frames far over the request limit before they are even buffered whole.
            sock.setsockopt(zmq.MAXMSGSIZE, self.max_frame_bytes)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            if self.heartbeat_ms:
                sock.setsockopt(zmq.HEARTBEAT_IVL, self.heartbeat_ms)
                sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * self.heartbeat_ms)
            sock.bind(url)
            self.sockets.append(sock)

    def start(self) -> None:
        """Serve on the running loop: a reader callback drains each socket in batches (no
        per-message futures), and each request runs as its own task."""
        loop = asyncio.get_running_loop()
        if self.streams is not None and self.sockets:
            self.streams.start()
        for sock in self.sockets:
            loop.add_reader(sock.getsockopt(zmq.FD), self._on_readable, sock)
            self._on_readable(sock)

    def _on_readable(self, sock: zmq.Socket) -> None:
        loop = asyncio.get_running_loop()
        # Read until EAGAIN (what re-arms the edge-triggered FD) rather than asking EVENTS
        # before each frame: that query costs as much as the read.
        while True:
            try:
                ident = sock.recv(_NOBLOCK)
            except zmq.Again:
                break
            # The rest of a message is there once its first frame is (ZeroMQ delivers whole
            # messages); the payload is the last frame.
            frame = None
            while sock.getsockopt(_RCVMORE):
                frame = sock.recv(_NOBLOCK)
            if frame is None:
                continue
            try:
                doc = native.unpack(frame)
            except EtcdError as e:
                doc = e
            if self.streams is not None and native_stream.is_stream_frame(doc):
                # Stream frames are handled in order, at once: a stream's requests must
                # reach it in the order they were sent.
                self.streams.on_frame(sock, ident, doc, len(frame))
                continue
            task = loop.create_task(self._handle(sock, ident, doc))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _recheck(self, sock: zmq.Socket) -> None:
        """Send the socket's queued answers and look at it again soon (ZeroMQ's FD is
        edge-triggered, and a send may consume the edge of frames that arrived meanwhile),
        once per loop turn."""
        if sock not in self._rechecks:
            self._rechecks.add(sock)
            asyncio.get_running_loop().call_soon(self._recheck_now, sock)

    def _recheck_now(self, sock: zmq.Socket) -> None:
        self._rechecks.discard(sock)
        if sock.closed:
            self._outbox.pop(sock, None)
            return
        # The answers of one turn leave back to back: the socket's I/O thread wakes once
        # for them, not once per answer.
        for ident, out in self._outbox.pop(sock, ()):
            try:
                sock.send(ident, _NOBLOCK | _SNDMORE)
            except zmq.ZMQError:
                continue  # the client stopped reading (EAGAIN) or left (EHOSTUNREACH): dropped
            try:
                sock.send(out, _NOBLOCK)  # accepted with the first frame (atomic messages)
            except zmq.ZMQError:
                pass
        self._on_readable(sock)

    async def _handle(self, sock, ident: bytes, doc) -> None:
        rid = 0
        try:
            if isinstance(doc, EtcdError):
                raise doc
            rid, method, body = native.parse_call(doc)
            token = doc.get("token", "")
            if not isinstance(token, str):
                raise EtcdError(Code.INVALID_ARGUMENT, "token must be a string")
            request_token.set(token)  # this task's request (auth_service.py)
            handler = self.handlers.get(method)
            if handler is None:
                raise EtcdError(Code.UNIMPLEMENTED, f"unknown method {method!r}")
            cls = self.methods.get(method)
            req = native.from_map(cls, body) if cls is not None else None
            if self.is_learner() and learner.refuses(req):
                raise learner.not_capable()
            resp = await handler(req)
            out = native.encode_response(rid, resp)
        except EtcdError as e:
            out = native.encode_error(rid or native.request_id_of(doc), e)
        except Exception as e:  # never let one request take the listener down
            log.exception("internal error on a zmq request")
            out = native.encode_error(rid, EtcdError(Code.UNKNOWN, str(e)))
        self._outbox.setdefault(sock, []).append((ident, out))
        self._recheck(sock)

    def close(self) -> None:
        if self.streams is not None:
            self.streams.close()
        loop = asyncio.get_event_loop()
        for s in self.sockets:
            loop.remove_reader(s.getsockopt(zmq.FD))
            s.close(0)


__all__ = ["ZmqFrontEnd"]
