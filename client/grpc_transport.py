"""The asyncio client's gRPC transport: unary calls of etcd's gRPC API (`grpc://host:port`).

Theory of operation: one grpclib Channel (one HTTP/2 connection) per endpoint, with any number
of calls in flight on it, as etcd's clientv3 uses one connection. A call names its method as
the other transports do (rpc.RPCS); the request dataclass becomes the method's protobuf
message and the answer the response dataclass, through the converters derived from the
dataclasses and etcd's .proto (common/proto/convert.py), so this transport writes no part of
the schema. A gRPC status becomes the client error of its code, with etcd's message. Only the
asyncio client has it (petcd-bench drives etcd and petcd over gRPC with it); streams go over
HTTP or the native protocol.
"""
from __future__ import annotations

import asyncio

from grpclib.client import Channel
from grpclib.exceptions import GRPCError, StreamTerminatedError

from petcd.common.proto.convert import decoder, encoder
from petcd.common.proto.methods import etcd_methods, path_of
from . import errors
from .rpc import RPCS


class AsyncGrpcTransport:
    def __init__(self, endpoint, tls=None) -> None:
        """tls: a client/tls.TLSConfig for a grpcs:// endpoint."""
        self.endpoint = endpoint
        self._ssl = None
        if endpoint.scheme == "grpcs":
            from .tls import TLSConfig
            self._ssl = (tls or TLSConfig()).context(("h2",))
        self._channel: Channel | None = None
        self._calls: dict[str, tuple] = {}
        self.token = ""  # the auth token sent with every call (`token` metadata)

    def _call_of(self, method: str) -> tuple:
        call = self._calls.get(method)
        if call is None:
            path = path_of(method)
            m = etcd_methods()[path]
            rpc = RPCS[method]
            call = self._calls[method] = (
                path, m, encoder(rpc.request, m.request_type),
                decoder(rpc.response, m.reply_type.DESCRIPTOR))
        return call

    async def call(self, method: str, request: object, timeout_s: float,
                   token: str | None = None) -> object:
        """token: sent instead of the transport's."""
        token = self.token if token is None else token
        if self._channel is None:
            self._channel = Channel(self.endpoint.host, self.endpoint.port, ssl=self._ssl)
        path, m, encode, decode = self._call_of(method)
        try:
            async with self._channel.request(
                    path, m.cardinality, m.request_type, m.reply_type, timeout=timeout_s,
                    metadata={"token": token} if token else None) as stream:
                await stream.send_message(encode(request), end=True)
                reply = await stream.recv_message()
                await stream.recv_trailing_metadata()
        except GRPCError as e:
            raise errors.from_code(e.status.value, e.message or "") from None
        except asyncio.TimeoutError:
            raise errors.DeadlineExceeded("context deadline exceeded") from None
        except (StreamTerminatedError, ConnectionError, OSError) as e:
            raise errors.Unavailable(str(e)) from None
        return decode(reply)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
