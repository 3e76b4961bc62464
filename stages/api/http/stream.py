"""Request-stream RPCs over one HTTP request, answered one by one (the keep-alive stream).

Theory of operation. The gateway turns a gRPC bidi stream into one POST: the request body is
a sequence of JSON values, each one stream message, read as it arrives (json_stream.JsonStream
splits it); the response is chunked, one `{"result":...}` line per answer
(reference/etcd-api.md 3.1). `request_stream` decodes each value with the gateway codec,
awaits its handler and writes the answer at once; the response ends when the body has ended
and every request is answered, as etcd's keep-alive stream does. Errors follow the gateway: a
malformed *first* value is a plain error answer (HTTP 500, code 2, Go's text); a malformed
later value silently ends the reading; a handler's EtcdError ends the stream with the stream
error body (with its HTTP status if nothing was written yet). Watch, which stays open and
answers out of order, has its own stream (watch_stream.py).

Must never: buffer more than `max_value_bytes` of one value; write after the client left.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from petcd.common.errors import Code, EtcdError
from . import gateway_json
from .gojson import GoJSONError
from .json_stream import JsonStream

log = logging.getLogger("petcd.api")


async def request_stream(receive, send, cls: type, handle: Callable[[object], Awaitable],
                         *, max_value_bytes: int, headers: list) -> None:
    splitter = JsonStream(max_value_bytes)
    first = True
    started = False

    async def write(body: bytes, more: bool = True) -> None:
        nonlocal started
        if not started:
            started = True
            # The gRPC metadata header comes with the stream's first answer: a body with no
            # request in it ends the stream before there is any.
            await send({"type": "http.response.start", "status": 200,
                        "headers": headers if not first else _without_metadata(headers)})
        await send({"type": "http.response.body", "body": body, "more_body": more})

    async def fail(err: EtcdError) -> None:
        status, body = gateway_json.encode_stream_error(err)
        if started:
            return await write(body, more=False)
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    eof = False
    while not eof:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        eof = not msg.get("more_body")
        values, bad = [], None
        try:
            values += splitter.feed(msg.get("body", b""))
            if eof:
                values += splitter.end()
        except GoJSONError as e:
            bad = str(e)    # after the values before it, which are answered first
        for raw in values:
            try:
                req = gateway_json.decode(cls, raw)
            except EtcdError as e:
                bad = e.message
                break
            first = False
            try:
                resp = await handle(req)
            except EtcdError as e:
                return await fail(e)
            except Exception as e:   # never a traceback to the client
                log.exception("internal error on a stream")
                return await fail(EtcdError(Code.UNKNOWN, str(e)))
            await write(gateway_json.encode_stream_result(resp))
        if bad is not None:
            if first:
                return await _plain_error(send, headers, bad)
            break       # the gateway stops reading; the answers so far stand
    await write(b"", more=False)


async def _plain_error(send, headers: list, message: str) -> None:
    # The stream never started: a unary-style answer (code 2), without the gRPC metadata
    # header, as the gateway gives.
    _, body = gateway_json.encode_error(EtcdError(Code.UNKNOWN, message))
    await send({"type": "http.response.start", "status": 500,
                "headers": _without_metadata(headers) + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _without_metadata(headers: list) -> list:
    return [h for h in headers if h[0] != b"grpc-metadata-content-type"]
