"""Peer URLs checked before a member add or update is sent, as etcd's clientv3 does (it fails
fast rather than let a bad URL reach the cluster: etcd 3.4's members crash on a bad URL in a
member update). The messages are Go's (etcd's types.NewURLs). petcd also takes tcp://, which
its transport dials. Pure: no I/O."""
from __future__ import annotations

from urllib.parse import urlsplit

from . import errors

SCHEMES = ("http", "https", "unix", "unixs", "tcp")


def check_peer_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    """The URLs, trimmed; errors.InvalidArgument with etcd's client message if one is bad."""
    if not urls:
        raise errors.InvalidArgument("no valid URLs given")
    out = []
    for raw in urls:
        u = raw.strip()
        try:
            parts = urlsplit(u)
        except ValueError as e:
            raise errors.InvalidArgument(f'parse "{u}": {e}') from None
        if parts.scheme not in SCHEMES:
            raise errors.InvalidArgument(
                f"URL scheme must be http, https, unix, or unixs: {u}")
        # Go's net.SplitHostPort: a port after the last colon; an IPv6 host in brackets.
        host, sep, _ = parts.netloc.rpartition(":")
        if not sep or (":" in host and not (host.startswith("[") and host.endswith("]"))):
            raise errors.InvalidArgument(f'URL address does not have the form "host:port": {u}')
        if parts.path:
            raise errors.InvalidArgument(f"URL must not contain a path: {u}")
        out.append(u)
    return tuple(out)
