"""The ZeroMQ front end: etcd's KV API as msgpack maps over a ROUTER socket.

Theory of operation: one ROUTER socket per listen URL; each request frame (format in
native.py) becomes an asyncio task calling the same service as HTTP, so many calls are in flight
on one connection and answers go back as they complete, tagged with the caller's id. Bad frames
get an INVALID_ARGUMENT error answer; the listener never stops for a client's mistake. (Named
zmq_api.py so that it does not shadow the pyzmq package.)
"""
from __future__ import annotations

import asyncio
import logging

import zmq

from petcd.common import cluster, kv, lease
from petcd.common.errors import Code, EtcdError
from . import learner, native

log = logging.getLogger("petcd.api")

METHODS = {
    "Range": kv.RangeRequest, "Put": kv.PutRequest, "DeleteRange": kv.DeleteRangeRequest,
    "Txn": kv.TxnRequest, "Compact": kv.CompactionRequest, "Alarm": cluster.AlarmRequest,
    "MoveLeader": cluster.MoveLeaderRequest, "MemberList": cluster.MemberListRequest,
    "MemberAdd": cluster.MemberAddRequest, "MemberRemove": cluster.MemberRemoveRequest,
    "MemberUpdate": cluster.MemberUpdateRequest, "MemberPromote": cluster.MemberPromoteRequest,
    "Status": cluster.StatusRequest,
    "LeaseGrant": lease.LeaseGrantRequest, "LeaseRevoke": lease.LeaseRevokeRequest,
    "LeaseKeepAlive": lease.LeaseKeepAliveRequest,
    "LeaseTimeToLive": lease.LeaseTimeToLiveRequest, "LeaseLeases": lease.LeaseLeasesRequest,
}


class ZmqFrontEnd:
    def __init__(self, service, status, members, max_frame_bytes: int, leases=None,
                 member_service=None, is_learner=lambda: False) -> None:
        self.handlers = {
            "Range": service.range, "Put": service.put, "DeleteRange": service.delete_range,
            "Txn": service.txn, "Compact": service.compact,
            "Status": lambda _: status(), "MemberList": lambda _: members(),
            "Alarm": service.alarm, "MoveLeader": service.move_leader,
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
        self.is_learner = is_learner
        self.max_frame_bytes = max_frame_bytes
        self.sockets: list[zmq.Socket] = []
        self._tasks: set[asyncio.Task] = set()

    def bind(self, ctx: zmq.Context, urls) -> None:
        for url in urls:
            sock = ctx.socket(zmq.ROUTER)
            sock.setsockopt(zmq.LINGER, 0)
            # Refuse frames far over the request limit before they are even buffered whole.
            sock.setsockopt(zmq.MAXMSGSIZE, self.max_frame_bytes)
            sock.bind(url)
            self.sockets.append(sock)

    def start(self) -> None:
        """Serve on the running loop: a reader callback drains each socket in batches (no
        per-message futures), and each request runs as its own task."""
        loop = asyncio.get_running_loop()
        for sock in self.sockets:
            loop.add_reader(sock.getsockopt(zmq.FD), self._on_readable, sock)
            self._on_readable(sock)

    def _on_readable(self, sock: zmq.Socket) -> None:
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) < 2:
                continue
            task = asyncio.ensure_future(self._handle(sock, frames[0], frames[-1]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, sock, ident: bytes, frame: bytes) -> None:
        rid = 0
        try:
            rid, method, doc = native.decode_frame(frame)
            handler = self.handlers.get(method)
            if handler is None:
                raise EtcdError(Code.UNIMPLEMENTED, f"unknown method {method!r}")
            cls = METHODS.get(method)
            req = native.from_map(cls, doc) if cls is not None else None
            if self.is_learner() and learner.refuses(req):
                raise learner.not_capable()
            resp = await handler(req)
            out = native.encode_response(rid, resp)
        except EtcdError as e:
            out = native.encode_error(rid or native.request_id_of(frame), e)
        except Exception as e:  # never let one request take the listener down
            log.exception("internal error on a zmq request")
            out = native.encode_error(rid, EtcdError(Code.UNKNOWN, str(e)))
        try:
            sock.send_multipart((ident, out), zmq.NOBLOCK)
        except zmq.Again:
            pass  # the client stopped reading; its answers are dropped, never block the loop
        # ZeroMQ's FD is edge-triggered, and a send may consume the edge of frames that
        # arrived meanwhile: look again, or they would wait for the next edge.
        self._on_readable(sock)

    def close(self) -> None:
        loop = asyncio.get_event_loop()
        for s in self.sockets:
            loop.remove_reader(s.getsockopt(zmq.FD))
            s.close(0)


__all__ = ["ZmqFrontEnd"]
