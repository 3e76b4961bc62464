"""A blocking client of one gRPC Watch stream (grpclib, with the stubs generated from etcd's
.proto), for tests: requests are sent and answers read as petcd's dataclasses (WatchRequest,
WatchResponse), converted to and from protobuf by common/proto/convert.py.

The call runs on an event loop of its own, in a thread, so a test drives it step by step
between blocking calls of its own (HTTP requests). Reads block up to `timeout_s`: a missing
message is a failure, never a wait that passes.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading

from grpclib.client import Channel

from petcd.common.kv import WatchRequest, WatchResponse
from petcd.common.proto import rpc_grpc, rpc_pb2
from petcd.common.proto.convert import decoder, encoder

_encode = encoder(WatchRequest, rpc_pb2.WatchRequest)
_decode = decoder(WatchResponse, rpc_pb2.WatchResponse.DESCRIPTOR)


class GWatchConn:
    def __init__(self, port: int, timeout_s: float = 10.0,
                 metadata: dict[str, str] | None = None) -> None:
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._exits = contextlib.AsyncExitStack()
        self._channel: Channel | None = None
        self._stream = None
        try:
            self._run(self._open(port, metadata))
        except BaseException:
            self.close()
            raise

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(coro, self.timeout_s), self._loop).result()

    async def _open(self, port: int, metadata) -> None:
        self._channel = Channel("127.0.0.1", port)
        self._stream = await self._exits.enter_async_context(
            rpc_grpc.WatchStub(self._channel).Watch.open(metadata=metadata))
        await self._stream.send_request()
        await self._stream.recv_initial_metadata()  # the server took the call

    def send(self, request: WatchRequest) -> None:
        self._run(self._stream.send_message(_encode(request)))

    def end(self) -> None:
        """Half-close: the client sends no more requests."""
        self._run(self._stream.end())

    def read(self) -> WatchResponse:
        pb = self._run(self._stream.recv_message())
        if pb is None:
            raise EOFError("the server ended the Watch call")
        return _decode(pb)

    async def _close(self) -> None:
        try:
            if self._stream is not None:
                with contextlib.suppress(Exception):  # never sent, or already ended
                    await self._stream.cancel()
            await self._exits.aclose()
        finally:
            if self._channel is not None:
                self._channel.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
