"""Go's net/http (and cmux before it), as a client of etcd's client port sees them.

Theory of operation. Before etcd's gateway sees a request, two Go layers have had their say:
cmux, which hands a connection to the HTTP server only if its first line is an HTTP/1.x
request line (else the connection is closed without a word), and net/http, which answers a
malformed request head itself, in plain text, and passes errors in the body (bad chunked
framing, a body cut short) to the handler as read errors, which the gateway's JSON decoder then
reports as its error (400, code 3, the reader's text). uvicorn's httptools protocol does none
of that the same way: it answers every parse error with its own 400 text, and drops a
connection whose client half-closed it, even with a request in flight. `GoHttpProtocol` is
uvicorn's protocol (through CoalescingHttpToolsProtocol) with Go's behaviour at those points:

* the cmux gate: the first line (up to 4096 bytes) must be `METHOD URI HTTP/d.d` with major
  version 1;
* a head Go refuses gets Go's answer: `400 Bad Request[: reason]` with Go's plain-text headers
  and Connection: close, `501 Not Implemented` for a transfer coding other than chunked, and
  the connection closes;
* an error in the body (llhttp's chunk errors, named with Go's texts, or the end of the
  connection before the body's end) reaches the app as `scope["petcd.body_error"]` with the
  body ended there (app.read_request_body turns it into the decoder's error, as Go's
  json.Decoder does);
* a half-closed connection still gets the answer to the request in flight, then closes.

What Go decides by a race (its server cancels a request's context when it sees the client's
EOF, which etcd reports as 408 "context canceled" if the call has not finished) is not copied:
the request is answered.

Must never: answer before the cmux gate has seen a whole first line, or feed the parser after
it failed.
"""
from __future__ import annotations

import re
import urllib.parse

import httptools

from .coalesce import CoalescingHttpToolsProtocol

# cmux's HTTP1 matcher reads at most this much for the first line.
MAX_FIRST_LINE_BYTES = 4096

_GO_ERROR_HEADERS = b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

# llhttp's message -> Go's answer to the same head: (status line text, body), or for errors
# in the body, Go's chunked reader's error text.
_HEAD_ERRORS = {
    "Invalid header token": "400 Bad Request: invalid header name",
    "Invalid header value char": "400 Bad Request: invalid header value",
}
_BODY_ERRORS = {
    "Invalid character in chunk size": "invalid byte in chunk length",
    "Chunk size overflow": "http chunk length too large",
}
_UNSUPPORTED_TE = "Request has invalid `Transfer-Encoding`"


def go_error_answer(public: str, body: str | None = None) -> bytes:
    """Go's plain answer to a head it refuses (server.go: the status line and body are both
    `public`, for 501 the body names the problem)."""
    return (b"HTTP/1.1 " + public.encode() + _GO_ERROR_HEADERS
            + (body if body is not None else public).encode())


def is_http1_request_line(line: bytes) -> bool:
    """cmux's HTTP1 matcher on the first line (without its newline)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    first = line.find(b" ")
    if first < 0:
        return False
    second = line.find(b" ", first + 1)
    if second < 0:
        return False
    proto = line[second + 1:]
    # Go's ParseHTTPVersion: exactly HTTP/d.d (1.0 and 1.1 are the fast cases of the same).
    return (len(proto) == 8 and proto.startswith(b"HTTP/1.") and proto[7:8].isdigit())


class GoHttpProtocol(CoalescingHttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._first_line: bytes | None = b""  # None once cmux's gate is passed
        self._failed = False                  # the parser failed: nothing more is fed to it
        self._close_after_response = False    # half-closed, or the body could not be read
        self._refusal: bytes | None = None    # Go's answer to the head being parsed

    # -- cmux --

    def data_received(self, data: bytes) -> None:
        if self._failed:
            return
        if self._first_line is not None:
            seen = self._first_line + data
            newline = seen.find(b"\n", 0, MAX_FIRST_LINE_BYTES)
            if newline < 0:
                if len(seen) >= MAX_FIRST_LINE_BYTES:
                    return self._drop()
                self._first_line = seen
                return
            if not is_http1_request_line(seen[:newline]):
                return self._drop()
            self._first_line = None
            data = seen
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as e:
            if self._refusal is not None:  # raised from on_headers_complete (wrapped)
                return self._refuse(self._refusal)
            self._parser_error(str(e))

    def _drop(self) -> None:
        self._failed = True
        self.transport.close()

    # -- Go's answers to heads, and body read errors --

    def on_headers_complete(self) -> None:
        refusal = None
        if self.parser.get_http_version() == "1.1":
            hosts = [v for k, v in self.headers if k == b"host"]
            if not hosts:
                refusal = "400 Bad Request: missing required Host header"
            elif len(hosts) > 1:
                refusal = "400 Bad Request"
        if refusal is None and _bad_escape(self.url):
            refusal = "400 Bad Request"
        if refusal is not None:
            self._refusal = go_error_answer(refusal)
            raise ValueError(refusal)  # stops the parser; data_received answers
        super().on_headers_complete()
        if b"#" in self.url:
            # Go keeps a fragment sent in the request line as part of the path (a client
            # never sends one); httptools splits it off. The app has not run yet.
            path = self.url.split(b"?", 1)[0]
            self.scope["path"] = urllib.parse.unquote(path.decode("latin-1"))

    def _parser_error(self, message: str) -> None:
        cycle = self.cycle
        in_body = (cycle is not None and not cycle.response_complete and cycle.more_body
                   and cycle.scope is self.scope)
        if message == _UNSUPPORTED_TE:
            # Go refuses the head before any handler runs; llhttp noticed only at the body.
            if in_body:
                cycle.response_complete = True  # the app's answer, if any, is not sent
            return self._refuse(go_error_answer("501 Not Implemented",
                                                "Unsupported transfer encoding"))
        if in_body:
            self._failed = True
            self.end_body(_BODY_ERRORS.get(message, "malformed chunked encoding"))
            return
        self._refuse(go_error_answer(_HEAD_ERRORS.get(message, "400 Bad Request")))

    def _refuse(self, answer: bytes) -> None:
        self._failed = True
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def end_body(self, error: str) -> None:
        """End the body of the request in flight with a read error (Go's text); the
        connection closes once it is answered."""
        cycle = self.cycle
        cycle.scope["petcd.body_error"] = error
        cycle.more_body = False
        cycle.message_event.set()
        self._close_after_response = True

    # -- half-close --

    def eof_received(self) -> bool | None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete or self._failed:
            return None  # nothing in flight: the transport closes
        if cycle.more_body:
            self.end_body("unexpected EOF")
        self._close_after_response = True
        return True  # keep writing: the request in flight is still answered

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._close_after_response and not self.transport.is_closing():
            self.transport.close()


_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _bad_escape(url: bytes) -> bool:
    """Go's url.ParseRequestURI refuses a `%` not followed by two hex digits (in the path;
    the query is parsed only when a handler asks for it)."""
    if b"%" not in url:
        return False
    path = url.split(b"?", 1)[0]
    return _ESCAPE.search(path) is not None
