"""The Python client for petcd (and etcd): `Client` (synchronous) and `AsyncClient` (asyncio),
over HTTP (etcd's JSON gateway) or ZeroMQ (petcd's native protocol, for `tcp://` endpoints).

    from petcd.client import Client, txn as t
    with Client("127.0.0.1:2379") as c:
        c.put("foo", "bar")
        c.get("foo").kvs[0].value                     # b"bar"
        c.txn(t.Txn().when(t.value("foo") == "bar").then(t.put("foo", "baz")))

Modules: client.py (Client), aio.py (AsyncClient), txn.py (compare/op builder), lease.py
(keep-alive), watch.py (resumable watch), concurrency.py (lock, election), errors.py (typed
etcd errors), retry.py (what may be retried), convert.py (the wire mappings),
http_transport.py and zmq_transport.py.
"""
from . import errors, txn
from .aio import AsyncClient
from .client import Client
from .errors import ClientError
from .retry import RetryPolicy

__all__ = ["Client", "AsyncClient", "ClientError", "RetryPolicy", "errors", "txn"]
