"""uvicorn's HTTP protocol writing through a CoalescingTransport (../coalesce.py), with Go's
bound on request head bytes.

Theory of operation. uvicorn writes a unary answer in two calls, which leave as one segment.
httptools has no bound of its own on a request's head (request line and headers): it would
gather an 8 MiB header. etcd's HTTP server is Go's net/http, which reads a head through a
limit of MaxHeaderBytes (etcd leaves Go's default, 1 MiB) plus 4096 bytes of bufio slack; a
head that has not ended by then is answered `431 Request Header Fields Too Large` in plain text,
Go reads no more, and closes the connection 500 ms later (its rstAvoidanceDelay: the client
reads the answer before the reset that unread bytes cause). Go would half-close at once too,
but behind etcd's cmux the connection cannot half-close, so the client sees the end after
500 ms; so it does here. Here the bound is --max-request-header-bytes plus
the same slack, passed as uvicorn's `h11_max_incomplete_event_size` (uvicorn's bound on an
unfinished head, which its h11 protocol enforces and httptools does not).

The parser is fed through `_HeadBound`, which never gives it more of a head than the bound
allows: a head that ends within the bound's last byte is served, as Go serves it. Bytes are
counted from the start of each head; bytes of a pipelined head that came in the same read as
the end of the request before it are not counted (Go's bufio likewise reads ahead up to 4096
bytes it does not count against the next request).

A URL longer than httptools.parse_url takes (64 KiB) is split here, as uvicorn would split it.

Must never: feed the parser past the bound, or answer 431 for a head that ended within it.
"""
from __future__ import annotations

import asyncio
import urllib.parse

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .. import limits
from ..coalesce import CoalescingTransport

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport", "HEADER_SLACK_BYTES"]

# Go's net/http reads a head through MaxHeaderBytes + 4096 ("bufio slop"); MaxHeaderBytes is
# http.DefaultMaxHeaderBytes when the server sets none (etcd's does not).
HEADER_SLACK_BYTES = 4096
DEFAULT_MAX_HEADER_BYTES = 1 << 20
# Go's answer (server.go), byte for byte.
ANSWER_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
              b"431 Request Header Fields Too Large")
# Go's rstAvoidanceDelay: from the 431 to the close.
CLOSE_DELAY_S = 0.5
# httptools.parse_url keeps offsets in 16 bits
PARSE_URL_MAX_BYTES = 0xFFFF


class _HeadBound:
    """The protocol's httptools parser, fed at most the bound's bytes of one head."""

    __slots__ = ("_parser", "_protocol", "_limit")

    def __init__(self, parser, protocol: CoalescingHttpToolsProtocol, limit: int) -> None:
        self._parser = parser
        self._protocol = protocol
        self._limit = limit

    def feed_data(self, data) -> None:
        proto = self._protocol
        while data:
            if proto.head_refused:
                return
            if proto.head_bytes is None:  # in a body: no bound here
                self._parser.feed_data(data)
                return
            room = self._limit - proto.head_bytes
            piece = data if len(data) <= room else data[:room]
            heads = proto.heads_complete
            self._parser.feed_data(piece)
            if proto.heads_complete == heads:  # the same head goes on
                proto.head_bytes += len(piece)
                if proto.head_bytes >= self._limit:
                    proto.refuse_head()
                    return
            data = data[len(piece):]

    def __getattr__(self, name: str):
        return getattr(self._parser, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a CoalescingTransport, bounding heads."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # bytes of the head being read; None while a body is
        self.head_bytes: int | None = 0
        self.heads_complete = 0
        self.head_refused = False
        max_header_bytes = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEADER_BYTES
        self.parser = _HeadBound(self.parser, self, max_header_bytes + HEADER_SLACK_BYTES)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        self.heads_complete += 1
        self.head_bytes = None
        url = self.url
        if len(url) <= PARSE_URL_MAX_BYTES:
            super().on_headers_complete()
            return
        # uvicorn's parse: httptools.parse_url refuses a URL this long; Go takes it.
        raw_path, _, query = url.split(b"#", 1)[0].partition(b"?")
        path = raw_path.decode("ascii")  # as uvicorn's, before the request starts
        self.url = b"/"
        try:
            super().on_headers_complete()
        finally:
            self.url = url
        scope = self.scope
        if "path" in scope:  # not an upgrade: the request's task has not run yet
            scope["path"] = self.root_path + (urllib.parse.unquote(path) if "%" in path
                                              else path)
            scope["raw_path"] = self.root_path.encode("ascii") + raw_path
            scope["query_string"] = query

    def on_message_complete(self) -> None:
        self.head_bytes = 0
        super().on_message_complete()

    def refuse_head(self) -> None:
        """Go's answer to a head past the bound: 431, and the close 500 ms later."""
        self.head_refused = True
        limits.hit("http", "header_bytes")
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.pipeline:
            transport.close()  # an answer is in flight: no 431 in the middle of it
            return
        transport.write(ANSWER_431)
        transport.pause_reading()  # Go reads no more either; the client's sends back up
        self.loop.call_later(CLOSE_DELAY_S, transport.close)
