"""The asyncio client: the same calls as client.Client, awaited.

Theory of operation: over `tcp://` endpoints calls go straight to petcd's native protocol on
a zmq.asyncio DEALER socket, with any number in flight on one connection (answers are matched
to futures by id), which is what the load bench uses; over `grpc://` endpoints, unary calls
go over etcd's gRPC API the same way (grpc_transport.py). Over HTTP the synchronous transport runs
in worker threads (asyncio.to_thread); so do the streams (`watch` gives an async iterator fed
by the sync Watch's thread, which uses the native watch stream over `tcp://` and HTTP
otherwise, so resuming after a reconnect is written once, in the sync Watch). Request
building is shared with Client: each helper (get, put, txn, lease_grant ...) is Client's own
method run against a builder whose `call` hands back the (method, request) instead of
sending, so the two clients cannot drift apart.
"""
from __future__ import annotations

import asyncio
import itertools

import msgpack

from petcd.common.auth import AuthenticateRequest
from .auth import needs_login
from . import convert, errors
from .client import DEFAULT_DIAL_TIMEOUT_S, DEFAULT_TIMEOUT_S, Client
from .endpoints import parse_list
from .retry import RetryPolicy
from .rpc import RPCS

_UNARY_HELPERS = frozenset({
    "get", "get_prefix", "range", "put", "delete", "delete_prefix", "txn", "compact", "status",
    "members", "member_add", "member_remove", "member_update", "member_promote", "alarms",
    "alarm_disarm", "hash_kv", "move_leader", "defragment", "lease_grant",
    "lease_revoke", "lease_time_to_live", "leases"})


class _Built(Exception):
    def __init__(self, method, request, timeout_s):
        self.method, self.request, self.timeout_s = method, request, timeout_s


class _Builder(Client):
    def __init__(self) -> None:  # no transports: it only builds requests
        pass

    def call(self, method, request, timeout_s=None):
        raise _Built(method, request, timeout_s)


# Calls one connection keeps outstanding at most (the member's default bound per connection).
MAX_CALLS_IN_FLIGHT = 256


class AsyncZmqTransport:
    def __init__(self, endpoint, curve=None) -> None:
        import zmq
        import zmq.asyncio
        self.endpoint = endpoint
        self.ctx = zmq.asyncio.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            curve.apply(self.sock)
        self.sock.connect(f"tcp://{endpoint.host}:{endpoint.port}")
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self.token = ""  # the auth token sent with every call
        # The member answers calls past its --zmq-max-requests-per-connection bound (256 by
        # default) with "too many requests"; more calls than that wait here for a slot.
        self._slots = asyncio.Semaphore(MAX_CALLS_IN_FLIGHT)

    async def _read(self) -> None:
        while True:
            frame = await self.sock.recv()
            ans = msgpack.unpackb(frame, raw=False, strict_map_key=False)
            fut = self._waiting.pop(ans.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(ans)

    async def call(self, method: str, request: object, timeout_s: float,
                   token: str | None = None) -> object:
        """token: sent instead of the transport's."""
        async with self._slots:
            return await self._call(method, request, timeout_s, token)

    async def _call(self, method: str, request: object, timeout_s: float,
                    token: str | None) -> object:
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        rpc = RPCS[method]
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        doc = {"id": rid, "method": method, "request": convert.dump(request, "native")}
        token = self.token if token is None else token
        if token:
            doc["token"] = token
        await self.sock.send(msgpack.packb(doc, use_bin_type=True))
        try:
            ans = await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            self._waiting.pop(rid, None)
            raise errors.DeadlineExceeded("context deadline exceeded") from None
        err = errors.from_answer(ans)
        if err is not None:
            raise err
        return convert.load(rpc.response, ans.get("response", {}))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self.sock.close(0)


class AsyncClient:
    def __init__(self, endpoints="127.0.0.1:2379", *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 dial_timeout_s: float = DEFAULT_DIAL_TIMEOUT_S,
                 retry: RetryPolicy = RetryPolicy(), user: str | None = None,
                 password: str = "", tls=None, curve=None) -> None:
        """user, password: log in (etcd's auth) before the first call, and again when the
        token is refused (client/auth.py)."""
        self.endpoints = parse_list(endpoints)
        self.timeout_s = timeout_s
        self.user, self.password = user, password
        self._logged_in = False
        self._login_lock: asyncio.Lock | None = None  # concurrent first calls share one login
        schemes = {ep.scheme for ep in self.endpoints}
        if schemes <= {"grpc", "grpcs"}:
            from .grpc_transport import AsyncGrpcTransport  # grpclib is only loaded when used
            self.sync = None  # unary calls only: streams need an http:// or tcp:// endpoint
            self._native = [AsyncGrpcTransport(ep, tls) for ep in self.endpoints]
        else:
            self.sync = Client(endpoints, timeout_s=timeout_s, dial_timeout_s=dial_timeout_s,
                               retry=retry, user=user, password=password, tls=tls,
                               curve=curve)
            self._native = ([AsyncZmqTransport(ep, curve) for ep in self.endpoints]
                            if schemes == {"tcp"} else None)
        self._current = 0
        self._builder = _Builder()

    async def call(self, method: str, request: object, timeout_s: float | None = None):
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        if self._native is None:  # the sync client logs in by itself
            return await asyncio.to_thread(self.sync.call, method, request, timeout_s)
        transport = self._native[self._current]
        if self.user is None or method == "Authenticate":
            return await transport.call(method, request, timeout_s)
        if not self._logged_in:
            await self._login(timeout_s, None)
        token = transport.token
        try:
            return await transport.call(method, request, timeout_s)
        except errors.ClientError as e:
            if not needs_login(e):
                raise
        await self._login(timeout_s, token)
        return await transport.call(method, request, timeout_s)

    async def _login(self, timeout_s: float, refused: str | None) -> None:
        """Log in, unless another call did while this one waited (`refused`: the token this
        call was refused with; None: the first login)."""
        if self._login_lock is None:
            self._login_lock = asyncio.Lock()
        async with self._login_lock:
            current = self._native[self._current].token
            if self._logged_in and current != refused:
                return  # done meanwhile by another call
            # without a token: a refused one would refuse the Authenticate too
            resp = await self._native[self._current].call(
                "Authenticate", AuthenticateRequest(self.user, self.password), timeout_s,
                token="")
            for t in self._native:
                t.token = resp.token
            self._logged_in = True

    def __getattr__(self, name: str):
        if name in _UNARY_HELPERS:
            helper = getattr(self._builder, name)

            async def run(*args, **kwargs):
                try:
                    helper(*args, **kwargs)
                except _Built as b:
                    return await self.call(b.method, b.request, b.timeout_s)
                raise AssertionError(f"{name} built no request")
            run.__name__ = name
            return run
        raise AttributeError(name)

    async def get_value(self, key, **kw):
        r = await self.get(key, **kw)
        return r.kvs[0].value if r.kvs else None

    async def version(self) -> dict:
        return await asyncio.to_thread(self.sync.version)

    async def lease_keep_alive_once(self, lease_id: int):
        return await asyncio.to_thread(self.sync.lease_keep_alive_once, lease_id)

    def keep_alive(self, lease_id: int, **kw):
        return self.sync.keep_alive(lease_id, **kw)  # a thread: fine to enter from async code

    async def watch(self, key, range_end=None, **kw):
        """An async iterator of WatchResponses (a sync Watch on a thread underneath)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        w = self.sync.watch(key, range_end, **kw)
        w.start_callback(lambda r: loop.call_soon_threadsafe(queue.put_nowait, r),
                         on_error=lambda e: loop.call_soon_threadsafe(queue.put_nowait, e))
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await asyncio.to_thread(w.cancel)

    async def close(self) -> None:
        if self._native is not None:
            for t in self._native:
                t.close()
        if self.sync is not None:
            self.sync.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
