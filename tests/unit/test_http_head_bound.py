"""The bound on HTTP request heads (stages/api/http/coalesce.py): Go's 431 exactly past
--max-request-header-bytes + 4096 bytes, however the bytes arrive, and nothing past it fed to
the parser; bodies and long URLs are not its business."""
from __future__ import annotations

import asyncio

import pytest
import uvicorn
from uvicorn.server import ServerState

from petcd.stages.api import limits
from petcd.stages.api.http.coalesce import ANSWER_431, CoalescingHttpToolsProtocol

MAX_HEADER_BYTES = 1000
BOUND = MAX_HEADER_BYTES + 4096


class Transport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.out = bytearray()
        self.closed = self.paused = False

    def write(self, data):
        self.out += data

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def get_write_buffer_size(self):
        return 0


async def app(scope, receive, send):
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    text = f"{scope['path']} {len(scope['query_string'])} {len(body)}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(text)).encode())]})
    await send({"type": "http.response.body", "body": text})


def serve(chunks: list[bytes], max_header_bytes: int = MAX_HEADER_BYTES
          ) -> tuple[bytes, Transport, CoalescingHttpToolsProtocol]:
    async def main():
        config = uvicorn.Config(app, h11_max_incomplete_event_size=max_header_bytes,
                                lifespan="off", log_level="warning")
        config.load()
        proto = CoalescingHttpToolsProtocol(config=config, server_state=ServerState(),
                                            app_state={}, _loop=asyncio.get_running_loop())
        transport = Transport()
        proto.connection_made(transport)
        for chunk in chunks:
            proto.data_received(chunk)
            for _ in range(5):
                await asyncio.sleep(0)  # the request's task and the coalesced write
        return bytes(transport.out), transport, proto
    return asyncio.run(main())


def head(total: int, path: str = "/p", body: bytes = b"") -> bytes:
    start = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nX-Pad: ".encode()
    return start + b"a" * (total - len(start) - 4) + b"\r\n\r\n" + body


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk", [1 << 20, 4096, 333, 1])
def test_a_head_that_ends_at_the_bound_is_served_one_past_is_refused(chunk):
    out, transport, _ = serve(split(head(BOUND, body=b"xyz"), chunk))
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"/p 0 3")
    before = limits.hits("http", "header_bytes")
    out, transport, _ = serve(split(head(BOUND + 1, body=b"xyz"), chunk))
    assert out == ANSWER_431 and transport.paused
    assert limits.hits("http", "header_bytes") == before + 1


def test_the_refusal_comes_once_the_bound_is_read_without_the_end_of_the_head():
    data = head(8 << 20)
    out, _, proto = serve([data[:BOUND - 1]])
    assert out == b""
    out, _, proto = serve([data[:BOUND]])
    assert out == ANSWER_431
    # nothing past the bound reached the parser, or ever will
    proto.data_received(data[BOUND:])
    assert proto.head_refused


def test_each_request_of_a_connection_has_its_own_bound():
    first = head(BOUND - 10)
    out, _, _ = serve([first, head(BOUND)])
    assert out.count(b"HTTP/1.1 200 OK") == 2
    out, _, _ = serve([first, head(BOUND + 1)])
    assert out.count(b"HTTP/1.1 200 OK") == 1 and out.endswith(ANSWER_431)


def test_a_body_is_not_counted():
    body = b"b" * (3 * BOUND)
    out, _, _ = serve(split(head(200, body=body), 1000))
    assert out.endswith(f"/p 0 {len(body)}".encode())


def test_a_url_longer_than_httptools_parses_is_taken():
    target = "/long?" + "q" * 70_000
    out, _, _ = serve([head(80_000, path=target)], max_header_bytes=1 << 20)
    assert out.endswith(b"/long 70000 0")
