"""TLS settings of a client connection, with etcdctl's names: --cacert, --cert, --key,
--insecure-skip-tls-verify.

An `https://` endpoint (HTTP gateway) or `grpcs://` endpoint (gRPC, asyncio client) uses them;
without a CA file the system's trusted CAs verify the server. The gRPC context offers ALPN h2.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TLSConfig:
    cacert: str = ""
    cert: str = ""
    key: str = ""
    insecure_skip_verify: bool = False

    def context(self, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cacert or None)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key or None)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx
