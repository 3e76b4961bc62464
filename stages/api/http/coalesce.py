"""uvicorn's HTTP protocol writing through a CoalescingTransport (../coalesce.py): uvicorn
writes a unary answer in two calls, which leave as one segment."""
from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..coalesce import CoalescingTransport

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a CoalescingTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
