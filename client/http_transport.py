"""Calls over etcd's HTTP/JSON gateway, with the standard library's http.client.

Theory of operation: one persistent HTTP/1.1 connection per endpoint for unary calls (a lock
keeps one call on it at a time; a failure drops the connection so the next call reconnects).
A stream (watch, keep-alive, snapshot) gets its own connection: its newline-delimited
`{"result": ...}` answers are read one line at a time, and closing the stream shuts the socket
down, which also wakes a reader blocked on it. Failures are typed (errors.py): a refused or
reset connection is `Unreachable` with `sent` telling whether the request may have reached
the server; no answer in time is `DeadlineExceeded`.
"""
from __future__ import annotations

import http.client
import json
import socket
import threading

from .tls import TLSConfig
from . import convert, errors
from .endpoints import Endpoint
from .rpc import RPCS

API_PREFIX = "/v3/"


def _unreachable(ep: Endpoint, e: BaseException, sent: bool) -> errors.Unreachable:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e) or type(e).__name__)
    err = errors.Unreachable(f"dial tcp {ep.hostport}: connect: {reason.lower()}"
                             if not sent else f"{ep.hostport}: connection lost: {reason}")
    err.sent = sent
    return err


def _deadline() -> errors.DeadlineExceeded:
    err = errors.DeadlineExceeded("context deadline exceeded")
    err.sent = True
    return err


def _decode_body(status: int, data: bytes) -> dict:
    try:
        doc = json.loads(data) if data else {}
    except ValueError:
        # not JSON: a plain-text error from the server (404 page, 405 ...)
        raise errors.from_code(2 if status >= 500 else 12 if status == 404 else 3,
                               data.decode("utf-8", "replace").strip() or f"HTTP {status}")
    err = errors.from_answer(doc)
    if err is not None:
        raise err
    if status != 200:
        raise errors.Unknown(f"HTTP {status}: {data[:200]!r}")
    return doc


class HttpStream:
    """An open gateway stream: iterate for response messages; close() from any thread."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 response_type: type, ep: Endpoint) -> None:
        self.conn, self.resp, self.response_type, self.ep = conn, resp, response_type, ep
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            line = self.resp.readline()
        except (OSError, http.client.HTTPException, ValueError) as e:
            if self.closed:
                raise StopIteration from None
            raise _unreachable(self.ep, e, True) from None
        if not line:
            raise StopIteration
        doc = json.loads(line)
        err = errors.from_answer(doc)
        if err is not None:
            raise err
        return convert.load(self.response_type, doc.get("result", {}))

    def close(self) -> None:
        self.closed = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conn.close()


class HttpTransport:
    def __init__(self, endpoint: Endpoint, dial_timeout_s: float = 2.0,
                 tls: TLSConfig | None = None) -> None:
        """tls: the settings of an https:// endpoint (default: the system's CAs)."""
        self.token = ""  # the auth token sent with every call (Client sets it)
        self._ssl = ((tls or TLSConfig()).context(("http/1.1",))
                     if endpoint.scheme == "https" else None)
        self.endpoint = endpoint
        self.dial_timeout_s = dial_timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connect(self, timeout_s: float | None) -> http.client.HTTPConnection:
        if self._ssl is not None:
            conn = http.client.HTTPSConnection(self.endpoint.host, self.endpoint.port,
                                               timeout=self.dial_timeout_s, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(self.endpoint.host, self.endpoint.port,
                                              timeout=self.dial_timeout_s)
        try:
            conn.connect()
        except socket.timeout as e:
            raise _unreachable(self.endpoint, e, False) from None
        except OSError as e:
            raise _unreachable(self.endpoint, e, False) from None
        conn.sock.settimeout(timeout_s)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method: str, path: str, body: bytes | None,
                timeout_s: float) -> tuple[int, bytes]:
        """One HTTP exchange on the shared connection (reconnecting once if the server had
        closed an idle one)."""
        with self._lock:
            for attempt in (1, 2):
                fresh = self._conn is None
                if fresh:
                    self._conn = self._connect(timeout_s)
                conn = self._conn
                conn.sock.settimeout(timeout_s)
                try:
                    headers = {"Content-Type": "application/json"}
                    if self.token:  # raw, as etcd's gateway wants it (not "Bearer ...")
                        headers["Authorization"] = self.token
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.will_close:
                        conn.close()
                        self._conn = None
                    return resp.status, data
                except socket.timeout:
                    self._drop()
                    raise _deadline() from None
                except (http.client.RemoteDisconnected, BrokenPipeError,
                        ConnectionResetError) as e:
                    self._drop()
                    # A kept-alive connection the server closed while idle: send once more.
                    if attempt == 1 and not fresh:
                        continue
                    raise _unreachable(self.endpoint, e, True) from None
                except (OSError, http.client.HTTPException) as e:
                    self._drop()
                    raise _unreachable(self.endpoint, e, True) from None
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, method: str, request: object, timeout_s: float) -> object:
        rpc = RPCS[method]
        body = json.dumps(convert.dump(request, "gateway"), separators=(",", ":")).encode()
        status, data = self.request("POST", API_PREFIX + rpc.path, body, timeout_s)
        return convert.load(rpc.response, _decode_body(status, data))

    def get_json(self, path: str, timeout_s: float) -> dict:
        status, data = self.request("GET", path, None, timeout_s)
        return _decode_body(status, data)

    def stream(self, method: str, requests: list, timeout_s: float | None,
               require_leader: bool = False) -> HttpStream:
        """Open a stream; `requests` are sent as the body (concatenated JSON objects).
        timeout_s bounds each read (None: wait for as long as it takes). require_leader sends
        the gateway's has-leader metadata: the member refuses or ends the stream without a
        leader."""
        rpc = RPCS[method]
        body = b"".join(json.dumps(convert.dump(r, "gateway"), separators=(",", ":")).encode()
                        for r in requests)
        conn = self._connect(timeout_s)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = self.token
        if require_leader:
            headers["Grpc-Metadata-Hasleader"] = "true"
        try:
            conn.request("POST", API_PREFIX + rpc.path, body=body, headers=headers)
            resp = conn.getresponse()
        except socket.timeout:
            conn.close()
            raise _deadline() from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise _unreachable(self.endpoint, e, True) from None
        if resp.status != 200:
            data = resp.read()
            conn.close()
            _decode_body(resp.status, data)
        return HttpStream(conn, resp, rpc.response, self.endpoint)

    def close(self) -> None:
        with self._lock:
            self._drop()
