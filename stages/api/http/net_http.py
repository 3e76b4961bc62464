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
* a bad head pipelined behind a request in flight is answered after that request's answer;
* Go cancels a request when it sees its client's EOF: a stream (watch, keep-alive, snapshot,
  observe) then ends, with the gateway's 408 "context canceled" if it had answered nothing;
  a unary call is canceled only if it had not finished, which is a race that is not copied:
  a half-closed connection still gets the answer to the call in flight, then closes.

Must never: answer before the cmux gate has seen a whole first line, or feed the parser after
it failed.
"""
from __future__ import annotations

import re
import urllib.parse

import httptools

from petcd.common import hoptrace

from .coalesce import CoalescingHttpToolsProtocol

# cmux's HTTP1 matcher reads at most this much for the first line.
MAX_FIRST_LINE_BYTES = 4096

_GO_ERROR_HEADERS = b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"


def go_error_answer(public: str, body: str | None = None) -> bytes:
    """Go's plain answer to a head it refuses (server.go: the status line and body are both
    `public`, for 501 the body names the problem)."""
    return (b"HTTP/1.1 " + public.encode() + _GO_ERROR_HEADERS
            + (body if body is not None else public).encode())


# The methods llhttp parses; Go takes any token.
_LLHTTP_METHODS = frozenset(m.encode() for m in (
    "DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    "SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    "SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY").split())
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

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

_STREAM_ROUTES = ("/watch", "/lease/keepalive", "/maintenance/snapshot", "/election/observe")
_CANCELED_BODY = b'{"error":"context canceled","message":"context canceled","code":1}'
_CANCELED_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nAccess-Control-Allow-Headers: accept, content-type, "
    b"authorization\r\nAccess-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"
    b"Access-Control-Allow-Origin: *\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_CANCELED_BODY)).encode() + b"\r\n\r\n" + _CANCELED_BODY)


_BAD_TRANSFER_ENCODING = "Invalid `Transfer-Encoding` header value"  # llhttp's, in the head
_UNSUPPORTED_TE_ANSWER = go_error_answer("501 Not Implemented", "Unsupported transfer encoding")


def _is_stream(path: str) -> bool:
    return path.startswith(("/v3/", "/v3beta/", "/v3alpha/")) and path.endswith(_STREAM_ROUTES)


def _head_answer(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """Go's answer to a head that names a framing or an expectation it does not take
    (net/http: one Transfer-Encoding, exactly "chunked"; Expect only 100-continue), or None."""
    codings = [v for k, v in headers if k == b"transfer-encoding"]
    if codings and (len(codings) > 1 or codings[0].strip().lower() != b"chunked"):
        return _UNSUPPORTED_TE_ANSWER
    expect = [v for k, v in headers if k == b"expect"]
    if expect and expect[0].strip().lower() != b"100-continue":
        return (b"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\n"
                b"Content-Length: 0\r\n\r\n")
    return None


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
        self._deferred: bytes | None = None   # a refusal to send after the answer in flight
        self._method: str | None = None       # the first request's method, if not llhttp's
        self._in_head = False                 # a request head has begun and not ended

    # -- cmux --

    def data_received(self, data: bytes) -> None:
        if hoptrace.ON:
            hoptrace.point("http read")
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
            data = self._first_line_for_llhttp(seen, newline)
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

    def _first_line_for_llhttp(self, data: bytes, newline: int) -> bytes:
        """The connection's first bytes with their request line put in a form llhttp takes
        where Go takes more: a method llhttp does not know (any token is a method to Go, and
        the gateway answers 405) is parsed as PUT and restored in the scope, and a minor
        version past 1 is parsed as HTTP/1.1 (Go serves any 1.x as 1.1)."""
        line = data[:newline]
        method, rest = line.split(b" ", 1)
        if method not in _LLHTTP_METHODS and _TOKEN.fullmatch(method):
            self._method = method.decode("ascii")
            method = b"PUT"
        proto_at = rest.rfind(b" HTTP/1.") + 1
        if rest[proto_at + 7:proto_at + 8] not in (b"0", b"1"):
            rest = rest[:proto_at] + b"HTTP/1.1" + rest[proto_at + 8:]
        return method + b" " + rest + data[newline:]

    def _drop(self) -> None:
        self._failed = True
        self.transport.close()

    # -- Go's answers to heads, and body read errors --

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        refusal = None
        if self.parser.get_http_version() == "1.1":
            hosts = [v for k, v in self.headers if k == b"host"]
            if not hosts:
                refusal = "400 Bad Request: missing required Host header"
            elif len(hosts) > 1:
                refusal = "400 Bad Request"
        if refusal is None and _bad_escape(self.url):
            refusal = "400 Bad Request"
        answer = go_error_answer(refusal) if refusal is not None else _head_answer(self.headers)
        if answer is not None:
            self._refusal = answer
            raise ValueError("refused head")  # stops the parser; data_received answers
        super().on_headers_complete()
        if self._method is not None:
            self.scope["method"], self._method = self._method, None
        if b"#" in self.url:
            # Go keeps a fragment sent in the request line as part of the path (a client
            # never sends one); httptools splits it off. The app has not run yet.
            path = self.url.split(b"?", 1)[0]
            self.scope["path"] = urllib.parse.unquote(path.decode("latin-1"))

    def _parser_error(self, message: str) -> None:
        cycle = self.cycle
        in_body = (cycle is not None and not cycle.response_complete and cycle.more_body
                   and cycle.scope is self.scope)
        if in_body:
            self._failed = True
            self.end_body(_BODY_ERRORS.get(message, "malformed chunked encoding"))
            return
        if message == _BAD_TRANSFER_ENCODING:  # the header itself is what Go refuses
            return self._refuse(_UNSUPPORTED_TE_ANSWER)
        self._refuse(go_error_answer(_HEAD_ERRORS.get(message, "400 Bad Request")))

    def _refuse(self, answer: bytes) -> None:
        """Go's answer to a head it refuses. Go reads requests one at a time, so a bad head
        pipelined behind a request in flight is answered after that request's answer."""
        self._failed = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self._deferred = answer
            return
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
        if self._in_head and not self._failed and (cycle is None or cycle.response_complete):
            self._refuse(go_error_answer("400 Bad Request"))  # Go: a head cut short
            return True
        if cycle is None or cycle.response_complete or self._failed:
            return None  # nothing in flight: the transport closes
        if _is_stream(cycle.scope.get("path", "")):
            # Go cancels a request when it sees its client's EOF. A stream is always still
            # running then: it ends, with the gateway's 408 if it had answered nothing.
            cycle.disconnected = True
            cycle.message_event.set()
            if not cycle.response_started:
                self.transport.write(_CANCELED_ANSWER)
            self.transport.close()  # after what is buffered (the transport coalesces writes)
            return True
        if cycle.more_body:
            self.end_body("unexpected EOF")
        self._close_after_response = True
        return True  # keep writing: the request in flight is still answered

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred is not None and not self.transport.is_closing():
            self.transport.write(self._deferred)
            self.transport.close()
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
