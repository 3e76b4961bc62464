"""Bidirectional gateway streams over one HTTP request (reference/etcd-api.md 3.1).

Theory of operation. The gateway turns a gRPC bidi stream into one POST: the request body is
a sequence of JSON values, each one stream message, read as it arrives; the response is
chunked, one `{"result":...}` line per answer. `request_stream` reads values as their bytes
arrive (gojson.next_value_span finds where each ends), decodes each with the gateway codec,
awaits its handler, and writes the answer at once. Errors follow the gateway: a malformed
*first* value is a plain error answer (HTTP 500, code 2, Go's text); a malformed later value
silently ends the reading; a handler's EtcdError ends the stream with the stream error body
(with its HTTP status if nothing was written yet).

Must never: buffer more than `max_value_bytes` of one value; write after the client left.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from petcd.common.errors import Code, EtcdError
from . import gateway_json
from .gojson import GoJSONError, next_value_span

log = logging.getLogger("petcd.api")


async def request_stream(receive, send, cls: type, handle: Callable[[object], Awaitable],
                         *, max_value_bytes: int, end_on_eof: bool, headers: list) -> None:
    """Serve one bidi stream whose requests are answered one by one, in order. With
    `end_on_eof` the response ends once the body has ended and every request is answered
    (etcd's keep-alive); otherwise it stays open until the client disconnects."""
    buf = b""
    eof = False
    first = True
    started = False

    async def write(body: bytes, more: bool = True) -> None:
        nonlocal started
        if not started:
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": more})

    async def fail(err: EtcdError) -> None:
        status, body = gateway_json.encode_stream_error(err)
        if not started:
            await send({"type": "http.response.start", "status": status,
                        "headers": headers + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        else:
            await write(body, more=False)

    reading = True
    while True:
        while reading:
            try:
                span = next_value_span(buf, 0, eof)
            except GoJSONError as e:
                if first:
                    status, body = gateway_json.encode_error(EtcdError(Code.UNKNOWN, str(e)))
                    return await _plain_error(send, headers, body)
                reading = False       # the gateway stops reading; answers so far stand
                break
            if span is None:
                break
            raw, buf = buf[span[0]:span[1]], buf[span[1]:]
            try:
                req = gateway_json.decode(cls, raw)
            except EtcdError as e:
                if first:
                    status, body = gateway_json.encode_error(EtcdError(Code.UNKNOWN, e.message))
                    return await _plain_error(send, headers, body)
                reading = False
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
        if eof or not reading:
            if end_on_eof or not reading:
                break
        if len(buf) > max_value_bytes:
            return await fail(EtcdError(
                Code.RESOURCE_EXHAUSTED,
                f"grpc: received message larger than max ({len(buf)} vs. {max_value_bytes})"))
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        buf += msg.get("body", b"")
        if not msg.get("more_body"):
            eof = True
            if not end_on_eof and not buf.strip():
                # The stream stays open after the client's half-close: wait for it to leave.
                while (await receive())["type"] != "http.disconnect":
                    pass
                return
    await write(b"", more=False)


async def _plain_error(send, headers: list, body: bytes) -> None:
    # The stream never started: a unary-style answer, without the gRPC metadata header.
    plain = [h for h in headers if h[0] != b"grpc-metadata-content-type"]
    await send({"type": "http.response.start", "status": 500,
                "headers": plain + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
