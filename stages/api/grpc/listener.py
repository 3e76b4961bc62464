"""gRPC on the client port: grpclib's HTTP/2 server, sharing the port with the HTTP gateway.

Theory of operation. etcd serves gRPC and its HTTP/1.1 gateway on one port, telling them apart
by the first bytes of a connection (cmux). Here both run on the worker's one event loop, so no
bytes are copied between processes: the listener's protocol waits for the first bytes of a
connection and hands the connection to grpclib's HTTP/2 protocol if they are HTTP/2's client
preface (gRPC clients send it first, with prior knowledge), else to the HTTP server's protocol
(uvicorn's), replaying what it read. `GrpcServer` holds grpclib's server without a listening
socket of its own; its connections are tracked so that a stop can close them.

Limits are etcd's: a message larger than --max-request-bytes + 512 KiB is refused with
ResourceExhausted and grpc-go's text; a TxnRequest is decoded at any depth, its too deep nesting
refused as etcd refuses it (txn_wire.py); streams in flight and header list bytes are bounded
per connection as grpc-go bounds them (h2_bounds.py); every refusal is counted (limits.py).
The server pings an idle connection after --grpc-keepalive-interval and drops it when no
answer comes in --grpc-keepalive-timeout.
grpclib never sends GOAWAY for a client's pings, so --grpc-keepalive-min-time (which etcd uses
to refuse clients pinging more often) cuts no client off here: an idle `etcdctl watch` stays.

Must never: block on a connection that has not sent its first bytes, or lose the bytes read
while deciding.
"""
from __future__ import annotations

import asyncio
import weakref

import grpclib.server
from google.protobuf.message import DecodeError
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from grpclib.protocol import Connection, EventsProcessor, H2Protocol, _set_nodelay
from h2.settings import SettingCodes

from petcd.common.proto import rpc_pb2
from .. import limits
from ..coalesce import CoalescingTransport
from . import txn_wire
from .h2_bounds import BoundedH2Connection

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# etcd's allowance above --max-request-bytes for the rest of a gRPC message (grpcOverheadBytes)
GRPC_OVERHEAD_BYTES = 512 * 1024


class _LimitedCodec(ProtoCodec):
    """grpclib's protobuf codec, refusing a message over the receive limit, and one that does
    not parse, with grpc-go's codes and texts (and no traceback in the log); TxnRequests
    through txn_wire, which takes any depth."""

    def __init__(self, max_recv_bytes: int, max_txn_ops: int) -> None:
        self.max_recv_bytes = max_recv_bytes
        self.max_txn_ops = max_txn_ops

    def decode(self, data, message_type):
        if len(data) > self.max_recv_bytes:
            limits.hit("grpc", "body_bytes")
            raise GRPCError(Status.RESOURCE_EXHAUSTED,
                            f"grpc: received message larger than max ({len(data)} vs. "
                            f"{self.max_recv_bytes})")
        try:
            if message_type is rpc_pb2.TxnRequest:
                txn, cut = txn_wire.decode(data, self.max_txn_ops)
                if cut:  # nested deeper than can pass: the check refuses it (txn_wire.py)
                    limits.hit("grpc", "txn_depth")
                return txn
            return super().decode(data, message_type)
        except (DecodeError, txn_wire.WireError) as e:  # grpc-go's code and prefix
            raise GRPCError(Status.INTERNAL,
                            f"grpc: error unmarshalling request: {e}") from None


class _BoundedH2Protocol(H2Protocol):
    """grpclib's HTTP/2 protocol over a BoundedH2Connection, writing through a
    CoalescingTransport. connection_made is grpclib's (pinned), with our connection."""

    def __init__(self, handler, config, h2_config, *, max_concurrent_streams: int,
                 max_header_list_size: int) -> None:
        super().__init__(handler, config, h2_config)
        self.max_concurrent_streams = max_concurrent_streams
        self.max_header_list_size = max_header_list_size

    def connection_made(self, transport) -> None:
        transport = CoalescingTransport(transport, asyncio.get_running_loop())
        sock = transport.get_extra_info("socket")
        if sock is not None:
            _set_nodelay(sock)
        h2_conn = BoundedH2Connection(self.h2_config,
                                      max_concurrent_streams=self.max_concurrent_streams,
                                      max_header_list_size=self.max_header_list_size)
        h2_conn.initiate_connection()
        initial = h2_conn.local_settings.initial_window_size
        conn_delta = self.config.http2_connection_window_size - initial
        stream_delta = self.config.http2_stream_window_size - initial
        if conn_delta:
            h2_conn.increment_flow_control_window(conn_delta)
        if stream_delta:
            h2_conn.update_settings({
                SettingCodes.INITIAL_WINDOW_SIZE: self.config.http2_stream_window_size})
        self.connection = Connection(h2_conn, transport, config=self.config)
        self.connection.flush()
        self.connection.initialize()
        self.processor = EventsProcessor(self.handler, self.connection)


class _Mapping:
    def __init__(self, mapping: dict) -> None:
        self._mapping = mapping

    def __mapping__(self) -> dict:
        return self._mapping


class GrpcServer:
    def __init__(self, mapping: dict, *, max_request_bytes: int, max_txn_ops: int,
                 max_concurrent_streams: int, max_request_header_bytes: int,
                 keepalive_interval_s: float, keepalive_timeout_s: float) -> None:
        config = Configuration(_keepalive_time=keepalive_interval_s,
                               _keepalive_timeout=keepalive_timeout_s)
        self._server = grpclib.server.Server(
            [_Mapping(mapping)],
            codec=_LimitedCodec(max_request_bytes + GRPC_OVERHEAD_BYTES, max_txn_ops),
            config=config)
        self._bounds = {"max_concurrent_streams": max_concurrent_streams,
                        "max_header_list_size": max_request_header_bytes}
        # grpclib copies the handlers' mappings into a plain dict; keep ours, which answers
        # unknown paths itself (services._Methods).
        self._server._mapping = mapping
        self._protocols: weakref.WeakSet = weakref.WeakSet()

    def protocol(self) -> asyncio.Protocol:
        """A new connection's HTTP/2 protocol: grpclib's, built as Server._protocol_factory
        builds it (grpclib is pinned in pyproject.toml for these internals), with the bounds
        of h2_bounds.py, writing through a CoalescingTransport so that an answer's headers,
        message and trailers leave in one segment."""
        s = self._server
        handler = grpclib.server.Handler(s._mapping, s._codec, s._status_details_codec,
                                         s.__dispatch__)
        s._handlers.add(handler)  # close() ends its calls
        proto = _BoundedH2Protocol(handler, s._config, s._h2_config, **self._bounds)
        self._protocols.add(proto)
        return proto

    async def serve(self, sock, ssl=None) -> asyncio.AbstractServer:
        """Serve gRPC alone on a listening socket (--listen-client-http-urls is set)."""
        return await asyncio.get_running_loop().create_server(self.protocol, sock=sock, ssl=ssl)

    async def close(self) -> None:
        """End every call and connection."""
        handlers = list(self._server._handlers)
        for proto in list(self._protocols):
            processor = getattr(proto, "processor", None)  # set once the connection is made
            if processor is not None:
                processor.close("server stopped")  # its connection and its calls
        for h in handlers:
            h.close()
        for h in handlers:
            await h.wait_closed()


def shared_port_protocol(grpc: GrpcServer, http_protocol: type) -> type:
    """A protocol class, given to uvicorn in place of its own, that serves each connection by
    gRPC or by `http_protocol` (uvicorn's, built with uvicorn's arguments) by its first bytes."""

    class SharedPortProtocol(asyncio.Protocol):
        def __init__(self, *args, **kwargs) -> None:
            self._http_args = (args, kwargs)
            self._transport: asyncio.Transport | None = None
            self._head = b""

        def connection_made(self, transport) -> None:
            self._transport = transport

        def data_received(self, data: bytes) -> None:
            head = self._head + data
            if len(head) < len(PREFACE) and PREFACE.startswith(head):
                self._head = head  # not enough to tell yet
                return
            if head.startswith(PREFACE):
                proto = grpc.protocol()
            else:
                args, kwargs = self._http_args
                proto = http_protocol(*args, **kwargs)
            transport = self._transport
            transport.set_protocol(proto)
            proto.connection_made(transport)
            proto.data_received(head)

        def eof_received(self):
            return None  # nothing decided yet: the connection closes

        def connection_lost(self, exc) -> None:
            self._transport = None

    return SharedPortProtocol
