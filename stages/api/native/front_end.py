"""The ZeroMQ front end: etcd's KV API as msgpack maps over a ROUTER socket.

Theory of operation: one ROUTER socket per listen URL; each request frame (format in
codec.py) becomes an asyncio task calling the same service as HTTP, so many calls are in flight
on one connection and answers go back as they complete, tagged with the caller's id. Frames of
watch streams (stream.py) go to the stream table (watch.py). Bad frames get an
INVALID_ARGUMENT error answer; the listener never stops for a client's mistake.

The loop is shared with HTTP and gRPC, so a socket is read at most READ_BATCH frames per
turn of the loop, and then the loop runs the others before it reads on (ZeroMQ's FD is
edge-triggered: a read that stops before EAGAIN schedules its own continuation, and until it
runs no other callback reads). ZeroMQ fair-queues the frames of its connections, so a flooding
client gets its share of each batch, not the batch.

The ROUTER is ROUTER_MANDATORY: it reports a full peer pipe (EAGAIN) and an unknown peer
(EHOSTUNREACH) instead of dropping the frame silently. What each connection may hold (calls in
flight, answers it has not read) is bounded by connections.py; requests nested too deeply are
refused while they are decoded (codec.py, with etcd's error).
"""
from __future__ import annotations

import asyncio
import logging

import zmq

from petcd.common import cluster, kv, lease
from petcd.common.errors import Code, EtcdError
from ..admission import request_client
from ..auth_service import request_token
from .. import learner, limits, nesting
from ..validate import DEFAULT_MAX_TXN_OPS
from . import codec as native, stream as native_stream
from .connections import ANSWER_HWM, Connections

# Plain ints: pyzmq's flag enums cost a Python call per use.
_NOBLOCK, _RCVMORE = int(zmq.NOBLOCK), int(zmq.RCVMORE)

# Frames read per turn of the loop: their tasks and the reads take a millisecond or two, then
# the others' callbacks run.
READ_BATCH = 32

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
                 heartbeat_ms: int = 0, extra_methods: dict | None = None,
                 max_txn_ops: int = DEFAULT_MAX_TXN_OPS,
                 max_requests_per_connection: int = 256,
                 max_queued_bytes_per_connection: int = 64 << 20) -> None:
        """streams: a watch.ZmqWatchStreams (None: no watch); heartbeat_ms: the ZMTP
        heartbeat interval (dead connections are dropped after 3 intervals; 0: off);
        extra_methods: method name -> (request type, handler), more unary calls (etcd's
        method names, as gRPC's table has them); max_txn_ops bounds how deeply requests
        nest (nesting.py); the bounds per connection are connections.py's."""
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
        self.max_depth = nesting.max_message_depth(max_txn_ops)
        self.max_requests = max_requests_per_connection
        self.max_queued_bytes = max_queued_bytes_per_connection
        self.sockets: list[zmq.Socket] = []
        self.connections: dict[zmq.Socket, Connections] = {}
        self._tasks: set[asyncio.Task] = set()
        self._rechecks: set[zmq.Socket] = set()
        self._continuations: set[zmq.Socket] = set()

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
            # ZeroMQ's own queue per peer, in messages: small, so that what a client that
            # does not read makes the member hold is counted in bytes in connections.py.
            sock.setsockopt(zmq.SNDHWM, ANSWER_HWM)
            if self.heartbeat_ms:
                sock.setsockopt(zmq.HEARTBEAT_IVL, self.heartbeat_ms)
                sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * self.heartbeat_ms)
            sock.bind(url)
            self.sockets.append(sock)
            self.connections[sock] = Connections(
                sock, max_requests=self.max_requests, max_queued_bytes=self.max_queued_bytes,
                after_send=lambda s=sock: self._recheck(s))

    def start(self) -> None:
        """Serve on the running loop: a reader callback reads each socket in batches (no
        per-message futures), and each request runs as its own task."""
        loop = asyncio.get_running_loop()
        if self.streams is not None and self.sockets:
            self.streams.start()
        for sock in self.sockets:
            loop.add_reader(sock.getsockopt(zmq.FD), self._on_wake, sock)
            self._on_readable(sock)

    def _on_wake(self, sock: zmq.Socket) -> None:
        # The FD also wakes when a peer's pipe has drained: answers queued for it may go.
        self.connections[sock].retry_blocked()
        self._on_readable(sock)

    def _on_readable(self, sock: zmq.Socket) -> None:
        if sock in self._continuations:
            return  # a batch per turn: the continuation reads next
        loop = asyncio.get_running_loop()
        conns = self.connections[sock]
        # Read until EAGAIN (what re-arms the edge-triggered FD) rather than asking EVENTS
        # before each frame (that query costs as much as the read), or a batch at most.
        for _ in range(READ_BATCH):
            try:
                ident = sock.recv(_NOBLOCK)
            except zmq.Again:
                return
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
            refused = conns.admit(ident)
            if refused is not None:
                conns.refuse(ident, native.encode_error(native.request_id_of(doc), refused))
                self._recheck(sock)
                continue
            task = loop.create_task(self._handle(sock, ident, doc))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # A full batch: more may wait behind it, and no edge will say so.
        self._continuations.add(sock)
        loop.call_soon(self._read_on, sock)

    def _read_on(self, sock: zmq.Socket) -> None:
        self._continuations.discard(sock)
        if not sock.closed:
            self._on_readable(sock)

    def _recheck(self, sock: zmq.Socket) -> None:
        """Send the socket's answers of this turn and look at it again soon (ZeroMQ's FD is
        edge-triggered, and a send may consume the edge of frames that arrived meanwhile),
        once per loop turn."""
        if sock not in self._rechecks:
            self._rechecks.add(sock)
            asyncio.get_running_loop().call_soon(self._recheck_now, sock)

    def _recheck_now(self, sock: zmq.Socket) -> None:
        self._rechecks.discard(sock)
        if sock.closed:
            return
        self.connections[sock].flush()
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
            request_client.set(ident)  # its turn among the clients (admission.py)
            handler = self.handlers.get(method)
            if handler is None:
                raise EtcdError(Code.UNIMPLEMENTED, f"unknown method {method!r}")
            cls = self.methods.get(method)
            req = (native.from_map(cls, body, max_depth=self.max_depth)
                   if cls is not None else None)
            if self.is_learner() and learner.refuses(req):
                raise learner.not_capable()
            resp = await handler(req)
            out = native.encode_response(rid, resp)
        except EtcdError as e:
            if isinstance(e, native.TooDeep):
                limits.hit("zmq", "txn_depth")
            out = native.encode_error(rid or native.request_id_of(doc), e)
        except Exception as e:  # never let one request take the listener down
            log.exception("internal error on a zmq request")
            out = native.encode_error(rid, EtcdError(Code.UNKNOWN, str(e)))
        self.connections[sock].done(ident, out)
        self._recheck(sock)

    def close(self) -> None:
        if self.streams is not None:
            self.streams.close()
        loop = asyncio.get_event_loop()
        for s in self.sockets:
            loop.remove_reader(s.getsockopt(zmq.FD))
            self.connections[s].close()
            s.close(0)


__all__ = ["ZmqFrontEnd"]
