"""A raw HTTP/1.1 client for etcd's streaming watch route, for recording and replaying.

http.client cannot send a request body piece by piece while it reads the response, which a
watch conversation needs; this opens a socket, sends the request with a chunked body, sends
each piece as a chunk when asked, and reads the chunked response one line (one message) at a
time. Reads block up to `timeout_s`: a missing line is a failure, never a wait that passes.
"""
from __future__ import annotations

import json
import socket


class WatchConn:
    def __init__(self, port: int, path: str = "/v3/watch", headers: dict | None = None,
                 timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.rfile = self.sock.makefile("rb")
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Content-Type: application/json", "Transfer-Encoding: chunked",
                 # etcd's Go server answers a chunked body's stream only after it was asked
                 # to continue (as curl -T does); without it, it waits for the whole body.
                 "Expect: 100-continue"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.chunked = False
        self._pending = b""
        self._body_open = True

    def send(self, body: bytes | str) -> None:
        data = body.encode() if isinstance(body, str) else body
        if data:
            self.sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

    def end_body(self) -> None:
        if self._body_open:
            self._body_open = False
            self.sock.sendall(b"0\r\n\r\n")

    def _read_head(self) -> None:
        if self.status is not None:
            return
        while True:
            status_line = self.rfile.readline()
            if not status_line:
                raise ConnectionError("connection closed before a response")
            self.status = int(status_line.split()[1])
            if self.status != 100:
                break
            self.rfile.readline()  # the blank line after an interim 100 Continue
        while True:
            line = self.rfile.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            k, v = line.split(":", 1)
            k = k.strip()
            self.headers[k] = self.headers[k] + ", " + v.strip() if k in self.headers \
                else v.strip()
        self.chunked = self._header("transfer-encoding").lower() == "chunked"

    def _header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name), "")

    def _read_chunk(self) -> bytes:
        size = int(self.rfile.readline().strip().split(b";")[0], 16)
        data = self.rfile.read(size)
        self.rfile.readline()
        if size == 0:
            raise EOFError("end of the response")
        return data

    def read_line(self) -> dict:
        """The next newline-terminated message of a streaming response, parsed."""
        self._read_head()
        while b"\n" not in self._pending:
            self._pending += self._read_chunk()
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def read_response(self) -> tuple[int, dict, bytes]:
        """A whole response (an error answer): status, headers, body."""
        self._read_head()
        if self.chunked:
            body = self._pending
            try:
                while True:
                    body += self._read_chunk()
            except EOFError:
                pass
        else:
            body = self.rfile.read(int(self._header("content-length") or "0"))
        return self.status, self.headers, body

    def close(self) -> None:
        try:
            self.rfile.close()
            self.sock.close()
        except OSError:
            pass
