"""Endpoint strings as etcdctl takes them, and which transport each one uses.

`host:port` and `http://host:port` are HTTP (the gateway), `https://` the same over TLS,
`tcp://host:port` is the native ZeroMQ protocol, `grpc://host:port` etcd's gRPC API and
`grpcs://` the same over TLS (the asyncio client only). etcdctl's endpoints have no scheme, so
HTTP is the default.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import errors


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str  # "http", "https", "tcp", "grpc" or "grpcs"
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"


def parse(text: str, default_port: int = 2379) -> Endpoint:
    s = text.strip()
    scheme = "http"
    if "://" in s:
        scheme, s = s.split("://", 1)
        scheme = scheme.lower()
    if scheme not in ("http", "https", "tcp", "grpc", "grpcs"):
        raise errors.InvalidArgument(f"{text}: unknown scheme {scheme!r} (use http://, "
                                     f"https://, tcp://, grpc:// or grpcs://)")
    s = s.rstrip("/")
    host, sep, port = s.rpartition(":")
    if not sep:
        host, port = s, str(default_port)
    try:
        p = int(port)
    except ValueError:
        raise errors.InvalidArgument(f"{text}: bad port {port!r}") from None
    return Endpoint(scheme, host.strip("[]") or "127.0.0.1", p)


def parse_list(value: str | list[str] | tuple[str, ...]) -> list[Endpoint]:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [parse(x) for x in items if x.strip()]
    if not out:
        raise errors.InvalidArgument("no endpoints given")
    return out
