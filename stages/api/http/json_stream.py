"""Splits a request body that arrives in pieces into its JSON values, as Go's json.Decoder.

Theory of operation: etcd's gateway reads a bidi stream's request body (watch, keepalive) with
one json.Decoder, one value per stream message (reference/etcd-api.md 3.1). `JsonStream` keeps
the bytes received so far; `feed(chunk)` returns the raw text of every value completed by it,
and `end()` those completed by the end of the body. Values may be concatenated or separated by
any JSON whitespace. A syntax error raises GoJSONError with Go's text, at the value where Go's
decoder would stop; the values before it were already returned.

Must never: hold more than `max_value_bytes` of one value (a client sending an endless value is
refused rather than buffered), or parse a complete value twice.
"""
from __future__ import annotations

from . import gojson
from .gojson import GoJSONError


class JsonStream:
    def __init__(self, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes
        self._buf = b""
        self._error: GoJSONError | None = None  # raised by the call after the good values

    def feed(self, chunk: bytes) -> list[bytes]:
        self._raise_pending()
        self._buf += chunk
        return self._split(final=False)

    def end(self) -> list[bytes]:
        self._raise_pending()
        return self._split(final=True)

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def _split(self, final: bool) -> list[bytes]:
        out = []
        buf, pos = self._buf, 0
        while True:
            try:
                end = gojson.next_value_end(buf, pos, final)
            except GoJSONError as e:
                if not out:
                    raise
                self._error, self._buf = e, b""
                return out
            if end is gojson.EOF or end is gojson.NEED_MORE:
                break
            out.append(buf[pos:end])
            pos = end
        self._buf = buf[pos:] if not final else b""
        if len(self._buf) > self.max_value_bytes:
            # gRPC would refuse the message at its size limit; this is the same refusal,
            # before the whole value is held in memory.
            self._buf = b""
            raise GoJSONError(f"grpc: received message larger than max "
                              f"({len(buf) - pos} vs. {self.max_value_bytes})")
        return out
