"""The bidi streams: Watch and LeaseKeepAlive over gRPC.

Theory of operation. Watch hands each decoded WatchRequest to a WatchStream (the same stream
logic as the gateway's and the native watch) and writes what the stream sends, in order, as
WatchResponse messages. As etcd's serverWatchStream, the stream stays open after the client
half-closes its side, until the client cancels the call or the server ends it; a stream
opened with `hasleader: true` is refused without a leader and ended with "no leader" when the
member loses its leader (leader_monitor.py), as etcd's interceptor does.

LeaseKeepAlive answers each request as it comes, in order, and ends when the client ends its
side, as etcd's LeaseKeepAlive does. An unknown lease answers TTL 0 (lease_service.py).

Must never: read requests faster than the stream can take them (WatchStream.wait_room bounds
what is queued), or leave the stream's tasks running after the call ended.
"""
from __future__ import annotations

from typing import Callable

from petcd.common.errors import EtcdError
from petcd.common.kv import WatchRequest
from petcd.common.lease import LeaseKeepAliveRequest
from petcd.common.proto import rpc_pb2
from petcd.common.proto.convert import decoder, encoder
from .unary import Checks, grpc_error


def watch_handler(checks: Checks, new_watch_stream: Callable):
    decode = decoder(WatchRequest, rpc_pb2.WatchRequest.DESCRIPTOR)
    encoders: dict[type, Callable] = {}

    def encode(resp):
        enc = encoders.get(type(resp))
        if enc is None:
            enc = encoders[type(resp)] = encoder(type(resp), rpc_pb2.WatchResponse)
        return enc(resp)

    async def handle(stream) -> None:
        checks.before(stream, None)
        require_leader = stream.metadata.get("hasleader") == "true"
        await stream.send_initial_metadata()

        async def send(responses) -> None:
            for r in responses:
                await stream.send_message(encode(r))

        ws = new_watch_stream(send, require_leader=require_leader)

        async def read_requests() -> None:
            async for pb in stream:
                await ws.wait_room()
                ws.request(decode(pb))
            # the client ended its side: the stream stays open, as etcd's does

        await ws.serve(read_requests)
        if ws.error is not None:
            raise grpc_error(ws.error)

    return handle


def keep_alive_handler(checks: Checks, keep_alive: Callable):
    decode = decoder(LeaseKeepAliveRequest, rpc_pb2.LeaseKeepAliveRequest.DESCRIPTOR)
    encode = None

    async def handle(stream) -> None:
        nonlocal encode
        checks.before(stream, None)
        async for pb in stream:
            try:
                resp = await keep_alive(decode(pb))
            except EtcdError as e:
                raise grpc_error(e) from None
            if encode is None:
                encode = encoder(type(resp), rpc_pb2.LeaseKeepAliveResponse)
            await stream.send_message(encode(resp))

    return handle


def server_stream_handler(checks: Checks, request_cls: type, open_stream: Callable,
                          pb_request: type, pb_reply: type):
    """A stream of answers to one request (Snapshot): open_stream(request) is an async
    iterator of response values, each sent as it comes."""
    decode = decoder(request_cls, pb_request.DESCRIPTOR)
    encode = None

    async def handle(stream) -> None:
        nonlocal encode
        req = decode(await stream.recv_message())
        checks.before(stream, None)
        try:
            async for resp in open_stream(req):
                if encode is None:
                    encode = encoder(type(resp), pb_reply)
                await stream.send_message(encode(resp))
        except EtcdError as e:
            raise grpc_error(e) from None

    return handle
