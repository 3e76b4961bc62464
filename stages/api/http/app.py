"""The HTTP front end: etcd 3.4's grpc-gateway routes as an ASGI application.

Theory of operation: a thin codec over the service layer. It reads the body, picks the route,
decodes the JSON into a typed request (gateway_json), awaits the service, and writes the typed
response back as the gateway would, or the error body with the HTTP status its gRPC code maps
to. Plain-text answers for what the gateway itself refuses (unknown route, wrong method) are
Go's. `/v3beta/` and `/v3alpha/` serve the same routes as `/v3/` (etcd 3.4 serves `/v3beta`;
petcd also keeps `/v3alpha` for older clients).

`/v3/watch` is a bidi stream (reference/etcd-api.md 3.1): the body is read as it arrives and
split into request objects (json_stream), each handed to a WatchStream; responses go out as
chunked `{"result":...}\n` lines. As the gateway, the status line and headers leave with the
first response (grpc-gateway waits for the stream's gRPC headers); a malformed first object is
a plain 500 error with code 2 (Unknown), a malformed later one silently ends the reading; the
stream stays open after the body ends, until the client disconnects, which drops its watchers.
With `Grpc-Metadata-Hasleader: true` a stream is refused without a leader (503, the stream
error body), and ended with that body if the member later loses its leader (leader_monitor.py).

Must never: let an exception reach the client as a traceback; every failure is an etcd error.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Awaitable, Callable

# generate_latest writes the text format etcd serves (0.0.4), under its own name here
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from petcd.common import auth, cluster, concurrency, lease
from petcd.common.errors import Code, EtcdError
from .. import learner, limits
from . import gateway_json
from .gateway_json import GatewayPanic
from . import gojson
from .gojson import GoJSONError
from .stream import request_stream
from .json_stream import JsonStream
from ..leader_monitor import no_leader
from ..admission import request_client
from ..auth_service import request_token, sent_token

log = logging.getLogger("petcd.api")

VERSION_BODY = b'{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}'

gateway_json.register(cluster.Member, names={"id": "ID", "peer_urls": "peerURLs",
                                             "client_urls": "clientURLs",
                                             "is_learner": "isLearner"},
                      kinds={"id": "uint64"})
gateway_json.register(cluster.MemberListRequest)
gateway_json.register(cluster.MemberListResponse)
_MEMBER_NAMES = {"id": "ID", "peer_urls": "peerURLs", "is_learner": "isLearner"}
for _cls in (cluster.MemberAddRequest, cluster.MemberAddResponse, cluster.MemberRemoveRequest,
             cluster.MemberRemoveResponse, cluster.MemberUpdateRequest,
             cluster.MemberUpdateResponse, cluster.MemberPromoteRequest,
             cluster.MemberPromoteResponse):
    gateway_json.register(_cls, names=_MEMBER_NAMES, kinds={"id": "uint64"})
gateway_json.register(cluster.AlarmRequest, names={"member_id": "memberID"},
                      kinds={"member_id": "uint64"},
                      enums={"action": "etcdserverpb.AlarmRequest_AlarmAction",
                             "alarm": "etcdserverpb.AlarmType"})
gateway_json.register(cluster.AlarmMember, names={"member_id": "memberID"},
                      kinds={"member_id": "uint64"}, enums={"alarm": "etcdserverpb.AlarmType"})
gateway_json.register(cluster.AlarmResponse)
gateway_json.register(cluster.MoveLeaderRequest, names={"target_id": "targetID"},
                      kinds={"target_id": "uint64"})
gateway_json.register(cluster.MoveLeaderResponse)
gateway_json.register(cluster.HashRequest)
gateway_json.register(cluster.HashResponse, kinds={"hash": "uint32"})
gateway_json.register(cluster.HashKVRequest)
gateway_json.register(cluster.HashKVResponse, kinds={"hash": "uint32"})
gateway_json.register(cluster.DefragmentRequest)
gateway_json.register(cluster.DefragmentResponse)
gateway_json.register(cluster.SnapshotRequest)
gateway_json.register(cluster.SnapshotResponse, kinds={"remaining_bytes": "uint64"})
gateway_json.register(cluster.StatusRequest)
gateway_json.register(cluster.StatusResponse, names={
    "db_size": "dbSize", "raft_index": "raftIndex", "raft_term": "raftTerm",
    "raft_applied_index": "raftAppliedIndex", "db_size_in_use": "dbSizeInUse",
    "is_learner": "isLearner"}, kinds={"leader": "uint64", "raft_index": "uint64",
                                       "raft_term": "uint64", "raft_applied_index": "uint64"})

for _cls in (concurrency.LockRequest, concurrency.LockResponse, concurrency.UnlockRequest,
             concurrency.UnlockResponse, concurrency.LeaderKey, concurrency.CampaignRequest,
             concurrency.CampaignResponse, concurrency.ProclaimRequest,
             concurrency.ProclaimResponse, concurrency.LeaderRequest,
             concurrency.LeaderResponse, concurrency.ResignRequest,
             concurrency.ResignResponse):
    gateway_json.register(_cls)

gateway_json.register(auth.Permission, enums={"permType": "authpb.Permission_Type"})
gateway_json.register(auth.UserAddOptions)
for _cls in (auth.AuthEnableRequest, auth.AuthEnableResponse, auth.AuthDisableRequest,
             auth.AuthDisableResponse, auth.AuthenticateRequest, auth.AuthenticateResponse,
             auth.AuthUserAddRequest, auth.AuthUserAddResponse, auth.AuthUserGetRequest,
             auth.AuthUserGetResponse, auth.AuthUserDeleteRequest, auth.AuthUserDeleteResponse,
             auth.AuthUserChangePasswordRequest, auth.AuthUserChangePasswordResponse,
             auth.AuthUserGrantRoleRequest, auth.AuthUserGrantRoleResponse,
             auth.AuthUserRevokeRoleRequest, auth.AuthUserRevokeRoleResponse,
             auth.AuthUserListRequest, auth.AuthUserListResponse, auth.AuthRoleAddRequest,
             auth.AuthRoleAddResponse, auth.AuthRoleGetRequest, auth.AuthRoleGetResponse,
             auth.AuthRoleListRequest, auth.AuthRoleListResponse, auth.AuthRoleDeleteRequest,
             auth.AuthRoleDeleteResponse, auth.AuthRoleGrantPermissionRequest,
             auth.AuthRoleGrantPermissionResponse, auth.AuthRoleRevokePermissionRequest,
             auth.AuthRoleRevokePermissionResponse):
    gateway_json.register(_cls)

_LEASE_NAMES = {"id": "ID", "ttl": "TTL", "granted_ttl": "grantedTTL"}
for _cls in (lease.LeaseGrantRequest, lease.LeaseGrantResponse, lease.LeaseRevokeRequest,
             lease.LeaseRevokeResponse, lease.LeaseKeepAliveRequest,
             lease.LeaseKeepAliveResponse, lease.LeaseTimeToLiveRequest,
             lease.LeaseTimeToLiveResponse, lease.LeaseLeasesRequest, lease.LeaseStatus,
             lease.LeaseLeasesResponse):
    gateway_json.register(_cls, names=_LEASE_NAMES)

_JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"grpc-metadata-content-type", b"application/grpc"),
]
_ERROR_HEADERS = [
    (b"content-type", b"application/json"),
    (b"trailer", b"Grpc-Trailer-Content-Type"),
]
_CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, GET, OPTIONS, PUT, DELETE"),
    (b"access-control-allow-headers", b"accept, content-type, authorization"),
]
_TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"),
                 (b"x-content-type-options", b"nosniff")]


_AUTH_ROUTES = {
    "enable": "AuthEnable", "disable": "AuthDisable", "authenticate": "Authenticate",
    "user/add": "UserAdd", "user/get": "UserGet", "user/list": "UserList",
    "user/delete": "UserDelete", "user/changepw": "UserChangePassword",
    "user/grant": "UserGrantRole", "user/revoke": "UserRevokeRole", "role/add": "RoleAdd",
    "role/get": "RoleGet", "role/list": "RoleList", "role/delete": "RoleDelete",
    "role/grant": "RoleGrantPermission", "role/revoke": "RoleRevokePermission",
}


def auth_routes(auth_service) -> dict:
    """The gateway's /v3/auth/* routes: route -> (request class, coroutine), from the gRPC
    table's Auth methods."""
    from ..grpc.services import auth_calls
    calls = auth_calls(auth_service)
    return {"auth/" + route: calls[f"/etcdserverpb.Auth/{method}"]
            for route, method in _AUTH_ROUTES.items()}


def _lease_routes(leases) -> dict:
    def dec(cls):
        return lambda b: gateway_json.decode(cls, b)
    revoke = (dec(lease.LeaseRevokeRequest), leases.revoke)
    ttl = (dec(lease.LeaseTimeToLiveRequest), leases.time_to_live)
    listing = (dec(lease.LeaseLeasesRequest), leases.leases)
    return {
        "lease/grant": (dec(lease.LeaseGrantRequest), leases.grant),
        "lease/revoke": revoke, "kv/lease/revoke": revoke,
        "lease/timetolive": ttl, "kv/lease/timetolive": ttl,
        "lease/leases": listing, "kv/lease/leases": listing,
    }


def _lock_routes(locks) -> dict:
    def dec(cls):
        return lambda b: gateway_json.decode(cls, b)
    return {
        "lock/lock": (dec(concurrency.LockRequest), locks.lock),
        "lock/unlock": (dec(concurrency.UnlockRequest), locks.unlock),
        "election/campaign": (dec(concurrency.CampaignRequest), locks.campaign),
        "election/proclaim": (dec(concurrency.ProclaimRequest), locks.proclaim),
        "election/leader": (dec(concurrency.LeaderRequest), locks.leader),
        "election/resign": (dec(concurrency.ResignRequest), locks.resign),
    }


def _member_routes(members) -> dict:
    def dec(cls):
        return lambda b: gateway_json.decode(cls, b)
    return {
        "cluster/member/add": (dec(cluster.MemberAddRequest), members.add),
        "cluster/member/remove": (dec(cluster.MemberRemoveRequest), members.remove),
        "cluster/member/update": (dec(cluster.MemberUpdateRequest), members.update),
        "cluster/member/promote": (dec(cluster.MemberPromoteRequest), members.promote),
    }


def _routes(service, status: Callable[[], Awaitable], members: Callable[[], Awaitable]):
    """Route (after the version prefix) -> (decode body, handle request)."""
    return {
        "kv/range": (gateway_json.decode_range, service.range),
        "kv/put": (gateway_json.decode_put, service.put),
        "kv/deleterange": (gateway_json.decode_delete_range, service.delete_range),
        "kv/txn": (gateway_json.decode_txn, service.txn),
        "kv/compaction": (gateway_json.decode_compaction, service.compact),
        "maintenance/status": (
            lambda b: gateway_json.decode(cluster.StatusRequest, b), lambda r: status()),
        "cluster/member/list": (
            lambda b: gateway_json.decode(cluster.MemberListRequest, b), lambda r: members()),
        "maintenance/transfer-leadership": (
            lambda b: gateway_json.decode(cluster.MoveLeaderRequest, b), service.move_leader),
        "maintenance/alarm": (
            lambda b: gateway_json.decode(cluster.AlarmRequest, b), service.alarm),
    }


class GatewayApp:
    def __init__(self, service, status, members, max_request_bytes: int,
                 extra_routes: dict | None = None, watch_stream=None,
                 has_leader: Callable[[], bool] = lambda: True,
                 metrics: Callable[[], bytes] | None = None, leases=None,
                 member_service=None, is_learner: Callable[[], bool] = lambda: False,
                 failpoints=None, snapshot=None, locks=None) -> None:
        """watch_stream(send) -> a WatchStream writing through `send` (None: no watch route);
        has_leader() for the Grpc-Metadata-Hasleader check of streams; member_service for the
        Cluster service's changes; is_learner() says whether to refuse what a learner does
        not serve (learner.py); failpoints: the /debug/failpoints endpoint (None: not
        served); snapshot(request): the Snapshot stream's chunks (None: not served);
        locks: the Lock and Election services (concurrency.py; None: not served)."""
        self.routes = _routes(service, status, members)
        # The stream routes (served by their own code): another method is 405 there too.
        self._stream_routes = {route for route, served in (
            ("watch", watch_stream), ("lease/keepalive", leases), ("maintenance/snapshot", snapshot),
            ("election/observe", locks)) if served is not None}
        self.is_learner = is_learner
        if member_service is not None:
            self.routes.update(_member_routes(member_service))
        self.watch_stream = watch_stream
        self.has_leader = has_leader
        self.metrics = metrics
        self.leases = leases
        self.failpoints = failpoints
        self.snapshot = snapshot
        self.locks = locks
        if locks is not None:
            self.routes.update(_lock_routes(locks))
        if leases is not None:
            self.routes.update(_lease_routes(leases))
        for route, (cls, handler) in (extra_routes or {}).items():
            self.routes[route] = (lambda b, cls=cls: gateway_json.decode(cls, b), handler)
        # etcd's gRPC limit is max-request-bytes + 512 KiB; a body larger than a few times
        # that cannot decode to an acceptable message, so it is not read into memory whole.
        self.grpc_limit_bytes = max_request_bytes + 512 * 1024
        self.max_body_bytes = 4 * self.grpc_limit_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        # The request's token (auth_service.py): the gateway passes Authorization (and
        # Grpc-Metadata-Authorization) on as metadata `authorization`, and
        # Grpc-Metadata-Token as `token`, which etcd reads first.
        metadata = {}
        for name, value in scope["headers"]:
            if name == b"grpc-metadata-":
                # forwarded as metadata with an empty name, which HTTP/2 refuses
                e = EtcdError(Code.INTERNAL, "stream terminated by RST_STREAM with error "
                                             "code: PROTOCOL_ERROR")
                status, out = gateway_json.encode_error(e)
                return await _respond(send, status, _CORS_HEADERS + _ERROR_HEADERS, out)
            if name == b"grpc-metadata-token":
                metadata["token"] = value.decode("latin-1")
            elif name in (b"authorization", b"grpc-metadata-authorization"):
                metadata.setdefault("authorization", value.decode("latin-1"))
        request_token.set(sent_token(metadata))
        request_client.set(("http", scope.get("client")))  # its connection (admission.py)
        if method == "OPTIONS":
            return await _respond(send, 200, _CORS_HEADERS, b"")
        clean = _clean_path(path)
        if path == "/v3":
            clean = "/v3/"  # ServeMux: the subtree "/v3/" is registered, "/v3" redirects to it
        if clean != path:
            # Go's ServeMux redirects unclean paths (//, /./, /../) to their clean form.
            return await _redirect(send, method, clean, scope.get("query_string", b""))
        if path == "/metrics" and self.metrics is not None:  # as etcd: any method
            return await _respond(send, 200, [(b"content-type",
                                               CONTENT_TYPE_PLAIN_0_0_4.encode())],
                                  self.metrics())
        if self.failpoints is not None and path.startswith("/debug/failpoints"):
            body = await _read_body(receive, 4096) or b""
            status, text = await self.failpoints.handle(method, path, body)
            return await _respond(send, status, _TEXT_HEADERS, text)
        if path in ("/version", "/health"):
            if method != "GET":
                return await _respond(send, 405, _CORS_HEADERS + [(b"allow", b"GET")]
                                      + _TEXT_HEADERS, b"Method Not Allowed\n")
            if path == "/version":
                return await _respond(send, 200, _CORS_HEADERS + _JSON_HEADERS[:1],
                                      VERSION_BODY)
            # etcd's health handler writes JSON under Go's sniffed text/plain content type.
            return await _respond(send, 200, _CORS_HEADERS + _TEXT_HEADERS[:1],
                                  b'{"health":"true"}')
        for prefix in ("/v3/", "/v3beta/", "/v3alpha/"):
            if path.startswith(prefix):
                route = path[len(prefix):]
                if route == "watch" and self.watch_stream is not None and method == "POST":
                    return await self._watch(scope, receive, send)
                return await self._gateway(scope, route, method, receive, send)
        await _respond(send, 404, _CORS_HEADERS + _TEXT_HEADERS, b"404 page not found\n")

    async def _gateway(self, scope, route: str, method: str, receive, send) -> None:
        if route == "lease/keepalive" and self.leases is not None:
            if method != "POST":
                return await _respond(send, 405, _CORS_HEADERS + _TEXT_HEADERS,
                                      b"Method Not Allowed\n")
            if self.is_learner():
                status, out = gateway_json.encode_stream_error(learner.not_capable())
                return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
            return await request_stream(
                receive, send, lease.LeaseKeepAliveRequest, self.leases.keep_alive,
                max_value_bytes=self.max_body_bytes, headers=_CORS_HEADERS + _JSON_HEADERS)
        if route == "maintenance/snapshot" and self.snapshot is not None and method == "POST":
            return await self._server_stream(
                receive, send, lambda b: gateway_json.decode(cluster.SnapshotRequest, b),
                self.snapshot)
        if route == "election/observe" and self.locks is not None and method == "POST":
            return await self._server_stream(
                receive, send, lambda b: gateway_json.decode(concurrency.LeaderRequest, b),
                self.locks.observe)
        handler = self.routes.get(route)
        if handler is None and route not in self._stream_routes:
            return await _respond(send, 404, _CORS_HEADERS + _TEXT_HEADERS, b"Not Found\n")
        if method != "POST" or handler is None:  # a stream route answered above takes POST
            return await _respond(send, 405, _CORS_HEADERS + _TEXT_HEADERS,
                                  b"Method Not Allowed\n")
        try:
            timeout_s = _grpc_timeout_s(scope["headers"])
            # the deadline runs from the head, as the gateway's context does (the clock, not
            # the loop's time, which stands still within one turn)
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
        except EtcdError as e:  # the gateway refuses the header before it reads the body
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        try:
            body = await _read_body(receive, self.max_body_bytes, scope)
        except EtcdError as e:  # the body could not be read: the decoder's error
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        if body is None:
            # Far past the gRPC limit: refuse without holding it all in memory. etcd's text
            # names the decoded message size; the body size stands in for it here.
            limits.hit("http", "body_bytes")
            limit = self.grpc_limit_bytes
            e = EtcdError(Code.RESOURCE_EXHAUSTED,
                          f"grpc: received message larger than max ({self.max_body_bytes} vs. "
                          f"{limit})")
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _ERROR_HEADERS, out)
        decode, call = handler
        try:
            req = decode(body)
        except GatewayPanic:
            # The real gateway panics and drops the connection without an answer; a 500 is
            # kinder and still not a success.
            e = EtcdError(Code.INTERNAL, "grpc-gateway: request caused a panic")
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        except EtcdError as e:  # the gateway's own JSON errors: a plain unary answer
            if e.message == "exceeded max depth":
                limits.hit("http", "txn_depth")
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        try:
            if self.is_learner() and learner.refuses(req):
                raise learner.not_capable()
            if deadline is None:
                resp = await call(req)
            else:
                resp = await _before(deadline, call)(req)
            out = gateway_json.encode(resp)
        except EtcdError as e:  # errors from the service carry the gRPC trailer header
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _ERROR_HEADERS, out)
        except GatewayPanic:
            # The real gateway drops the connection without an answer; a 500 is kinder and
            # still not a success.
            e = EtcdError(Code.INTERNAL, "grpc-gateway: request caused a panic")
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _ERROR_HEADERS, out)
        except Exception as e:  # never a traceback to the client
            log.exception("internal error on %s", route)
            status, out = gateway_json.encode_error(EtcdError(Code.UNKNOWN, str(e)))
            return await _respond(send, status, _CORS_HEADERS + _ERROR_HEADERS, out)
        await _respond(send, 200, _CORS_HEADERS + _JSON_HEADERS, out)


    async def _server_stream(self, receive, send, decode, open_stream) -> None:
        """A server stream (Snapshot): one request body, answered by `{"result":...}` lines
        as they come; an error ends it with the stream error body (with its status if
        nothing was written yet), as the gateway does."""
        body = await _read_body(receive, self.max_body_bytes) or b""
        try:
            req = decode(body)
        except EtcdError as e:
            status, out = gateway_json.encode_error(e)
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        if self.is_learner():
            status, out = gateway_json.encode_stream_error(learner.not_capable())
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        started = False
        try:
            async for resp in open_stream(req):
                if not started:
                    started = True
                    await send({"type": "http.response.start", "status": 200,
                                "headers": _CORS_HEADERS + _JSON_HEADERS})
                await send({"type": "http.response.body", "more_body": True,
                            "body": gateway_json.encode_stream_result(resp)})
        except EtcdError as e:
            status, out = gateway_json.encode_stream_error(e)
            if not started:
                return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
            return await send({"type": "http.response.body", "body": out, "more_body": False})
        except Exception as e:  # never a traceback to the client
            log.exception("internal error in a server stream")
            status, out = gateway_json.encode_stream_error(EtcdError(Code.UNKNOWN, str(e)))
            if not started:
                return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
            return await send({"type": "http.response.body", "body": out, "more_body": False})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, scope, receive, send) -> None:
        headers = dict(scope.get("headers") or ())
        require_leader = headers.get(b"grpc-metadata-hasleader", b"").strip() == b"true"
        if require_leader and not self.has_leader():
            status, out = gateway_json.encode_stream_error(no_leader())
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        if self.is_learner():
            status, out = gateway_json.encode_stream_error(learner.not_capable())
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        started = False

        async def write(responses) -> None:
            nonlocal started
            if not started:
                started = True
                await send({"type": "http.response.start", "status": 200,
                            "headers": _CORS_HEADERS + _JSON_HEADERS})
            body = b"".join([gateway_json.encode_stream_result(r) for r in responses])
            await send({"type": "http.response.body", "body": body, "more_body": True})

        stream = self.watch_stream(write, require_leader=require_leader)
        splitter = JsonStream(self.grpc_limit_bytes)
        state = {"first": True, "reading": True, "error": None, "disconnected": False}

        async def take(raws) -> None:
            for raw in raws:
                try:
                    req = gateway_json.decode_watch_request(raw)
                except EtcdError as e:
                    return fail(e.message)
                state["first"] = False
                await stream.wait_room()
                stream.request(req)

        def fail(message: str) -> None:
            state["reading"] = False
            if state["first"]:  # the gateway's handleSend error: a plain 500, code Unknown
                state["error"] = EtcdError(Code.UNKNOWN, message)
                stream.close()

        async def read_requests() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    state["disconnected"] = True
                    stream.close()
                    return
                if not state["reading"]:
                    continue
                more = msg.get("more_body", False)
                try:
                    await take(splitter.feed(msg.get("body", b"")))
                    if not more and state["reading"]:
                        state["reading"] = False
                        await take(splitter.end())
                except GoJSONError as e:
                    fail(str(e))

        await stream.serve(read_requests)
        if state["disconnected"]:
            return
        if stream.error is not None:
            # Ended by the server (the member lost its leader): the gateway's stream error
            # body, mid-stream as the last chunk, or as the whole answer with its status.
            status, out = gateway_json.encode_stream_error(stream.error)
            if not started:
                return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
            await send({"type": "http.response.body", "body": out, "more_body": False})
            return
        if state["error"] is not None and not started:
            status, out = gateway_json.encode_error(state["error"])
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        if not started:  # the server stops before anything was written
            status, out = gateway_json.encode_stream_error(
                EtcdError(Code.UNAVAILABLE, "etcdserver: server stopped"))
            return await _respond(send, status, _CORS_HEADERS + _JSON_HEADERS[:1], out)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# Grpc-Timeout's units (grpc-gateway's timeoutDecode), in nanoseconds.
_TIMEOUT_UNITS_NS = {"H": 3600 * 10**9, "M": 60 * 10**9, "S": 10**9, "m": 10**6, "u": 10**3,
                     "n": 1}
_GO_INT64 = re.compile(r"[+-]?[0-9]+\Z")


def _grpc_timeout_s(headers) -> float | None:
    """The call's deadline from its Grpc-Timeout header, as grpc-gateway reads it (a Go
    int64 and a unit letter; the product wraps as Go's time.Duration does, and a deadline at
    or before now has passed), or None without the header."""
    for name, value in headers:
        if name == b"grpc-timeout":
            text = value.decode("latin-1")
            break
    else:
        return None
    unit_ns = _TIMEOUT_UNITS_NS.get(text[-1:]) if len(text) >= 2 else None
    digits = text[:-1]
    if unit_ns is None or not _GO_INT64.match(digits) or not -2**63 <= int(digits) < 2**63:
        raise EtcdError(Code.INVALID_ARGUMENT, f"invalid grpc-timeout: {text}")
    ns = (int(digits) * unit_ns + 2**63) % 2**64 - 2**63
    return ns / 1e9


def _before(deadline: float, call):
    """`call` under the client's deadline (time.monotonic): gRPC's DeadlineExceeded once it
    passes, and the call not even started if it already has (a gRPC client does not send a
    call whose context is done)."""
    async def bounded(req):
        expired = EtcdError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise expired
        try:
            async with asyncio.timeout(remaining_s):
                return await call(req)
        except TimeoutError:
            raise expired from None
    return bounded


def _clean_path(path: str) -> str:
    """Go's path.Clean as ServeMux applies it (keeping a trailing slash)."""
    if "//" not in path and "/." not in path:
        return path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    clean = "/" + "/".join(parts)
    if path.endswith("/") and clean != "/":
        clean += "/"
    return clean


async def _read_body(receive, max_bytes: int, scope: dict | None = None) -> bytes | None:
    """The request body, or None once it passes max_bytes (the rest is drained unread), as
    Go's json.Decoder sees it: a body that ended in a read error (net_http.py puts it in
    scope) is that error if the first JSON value was not whole by then; a request that closes
    its connection afterwards is decoded as soon as its first value is whole (Go's decoder
    stops there; the rest of the body may never come)."""
    chunks, size, too_big = [], 0, False
    early = scope is not None and _closes_connection(scope)
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            too_big = True
            chunks = []
        elif not too_big:
            chunks.append(chunk)
        if not msg.get("more_body"):
            break
        if early and not too_big and _first_value_whole(b"".join(chunks)):
            break
    if too_big:
        return None
    body = b"".join(chunks)
    error = scope.get("petcd.body_error") if scope is not None else None
    if error is not None and not _first_value_whole(body):
        raise EtcdError(Code.INVALID_ARGUMENT, error)
    return body


def _closes_connection(scope: dict) -> bool:
    if scope.get("http_version") == "1.0":
        return True
    return any(k == b"connection" and v.lower() == b"close" for k, v in scope["headers"])


def _first_value_whole(body: bytes) -> bool:
    """Whether Go's decoder could stop reading here: the first value is whole, or the bytes
    so far already hold a syntax error."""
    try:
        end = gojson.next_value_end(body, 0, False)
    except GoJSONError:
        return True
    return end is not gojson.EOF and end is not gojson.NEED_MORE


async def _redirect(send, method: str, path: str, query: bytes) -> None:
    """Go's http.Redirect with 301, as ServeMux sends it: the query kept, and for GET (and the
    header only, HEAD) a small HTML body."""
    location = path.encode() + (b"?" + query if query else b"")
    headers = _CORS_HEADERS + [(b"location", location)]
    body = b""
    if method in ("GET", "HEAD"):
        headers = headers + [(b"content-type", b"text/html; charset=utf-8")]
        if method == "GET":
            body = b'<a href="' + _go_html_escape(location) + b'">Moved Permanently</a>.\n\n'
    await _respond(send, 301, headers, body)


def _go_html_escape(text: bytes) -> bytes:
    """Go's htmlEscape (net/http): the five characters, quotes as numeric references."""
    for raw, ref in ((b"&", b"&amp;"), (b"<", b"&lt;"), (b">", b"&gt;"), (b'"', b"&#34;"),
                     (b"'", b"&#39;")):
        text = text.replace(raw, ref)
    return text


async def _respond(send, status: int, headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
