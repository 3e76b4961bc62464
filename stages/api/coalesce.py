"""One send per connection per event-loop turn, for the front ends' protocols.

Theory of operation: a protocol that writes a response in several calls (uvicorn's status line
and body; grpclib's headers, message and trailers) would have uvloop send each at once: several
TCP segments, and as many wakeups of the client, for every unary answer.
`CoalescingTransport` sits between the protocol and the real transport: writes made during one
turn of the loop are joined and sent by one callback at the end of that turn (call_soon).
Nothing waits for a timer, so no answer is delayed past the turn that produced it; pipelined
answers of one turn leave together too.

Must never: reorder bytes, or drop them at close (close sends what is pending first).
"""
from __future__ import annotations

import asyncio

from petcd.common import hoptrace


class CoalescingTransport:
    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if hoptrace.ON and pending:
            hoptrace.point("client write")
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str):
        return getattr(self._transport, name)
