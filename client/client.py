"""The synchronous client: etcd's KV, Lease, Watch, Cluster and Maintenance calls over HTTP
(etcd's gateway, so it also talks to etcd) or ZeroMQ (petcd's native protocol).

Theory of operation: `Client(endpoints)` keeps one transport per endpoint and a current one.
Every call has a deadline (`timeout_s`, per call or the client's default). A call that fails
with an Unavailable-class error moves to the next endpoint and is sent again only if
retry.RetryPolicy says it is safe (reads, compare-and-swap txns, or a request that never left);
anything else is raised as the typed etcd error (errors.py). Streams (watch, keep-alive) live
in watch.py and lease.py and use the same endpoints. Keys and values are bytes or str (str is
UTF-8 encoded); answers are the dataclasses of common/kv.py, common/cluster.py, messages.py.
"""
from __future__ import annotations

import threading
import time

from petcd.common import cluster, kv
from . import errors, messages as m
from .endpoints import Endpoint, parse_list
from .auth import AuthCalls, needs_login
from .http_transport import HttpTransport
from petcd.common.auth import AuthenticateRequest
from .ranges import key_range, to_bytes
from .retry import RetryPolicy
from .rpc import DefragmentRequest, SnapshotRequest
from .tls import TLSConfig
from .txn import Txn
from .urls import check_peer_urls

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_DIAL_TIMEOUT_S = 2.0


def make_transport(ep: Endpoint, dial_timeout_s: float, tls: TLSConfig | None = None,
                   curve=None):
    if ep.scheme in ("grpc", "grpcs"):
        raise errors.InvalidArgument(f"{ep.url}: gRPC endpoints are for the asyncio client "
                                     f"(AsyncClient) only")
    if ep.scheme == "tcp":
        from .zmq_transport import ZmqTransport  # pyzmq is only loaded when used
        return ZmqTransport(ep, dial_timeout_s, curve=curve)
    return HttpTransport(ep, dial_timeout_s, tls)


class Client(AuthCalls):
    def __init__(self, endpoints: str | list[str] = "127.0.0.1:2379", *,
                 timeout_s: float = DEFAULT_TIMEOUT_S,
                 dial_timeout_s: float = DEFAULT_DIAL_TIMEOUT_S,
                 retry: RetryPolicy = RetryPolicy(), user: str | None = None,
                 password: str = "", tls: TLSConfig | None = None, curve=None) -> None:
        """user, password: log in (etcd's auth) before the first call (client/auth.py);
        tls: certificates for https:// endpoints (client/tls.py); curve: keys for tcp://
        endpoints of a member that requires CURVE (client/curve.py)."""
        self.endpoints = parse_list(endpoints)
        self.user = user
        self.password = password
        self._token = ""
        self._login_lock = threading.Lock()
        self.timeout_s = timeout_s
        self.dial_timeout_s = dial_timeout_s
        self.retry = retry
        self._transports = [make_transport(ep, dial_timeout_s, tls, curve)
                            for ep in self.endpoints]
        self._current = 0
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for t in self._transports:
            t.close()

    @property
    def endpoint(self) -> Endpoint:
        return self.endpoints[self._current]

    def _next_endpoint(self, failed: int) -> None:
        with self._lock:
            if self._current == failed:
                self._current = (failed + 1) % len(self._transports)

    def _login(self, timeout_s: float | None, refused: str | None = None) -> None:
        """Log in, unless another thread did while this one waited (`refused`: the token its
        call was refused with)."""
        with self._login_lock:
            if self._token and self._token != refused and refused is not None:
                return
            self._set_token("")  # a refused token would refuse the Authenticate too
            resp = self._call("Authenticate", AuthenticateRequest(self.user, self.password),
                              timeout_s)
            self._set_token(resp.token)

    def _set_token(self, token: str) -> None:
        self._token = token
        for t in self._transports:
            t.token = token

    def call(self, method: str, request: object, timeout_s: float | None = None) -> object:
        """Send one RPC (rpc.RPCS names it), with failover and safe retries; logged in first
        if the client has a user, and again once if the token was refused."""
        if self.user is None or method == "Authenticate":
            return self._call(method, request, timeout_s)
        if not self._token:
            self._login(timeout_s, "")
        token = self._token
        try:
            return self._call(method, request, timeout_s)
        except errors.ClientError as e:
            if not needs_login(e):
                raise
        self._login(timeout_s, token)
        return self._call(method, request, timeout_s)

    def _call(self, method: str, request: object, timeout_s: float | None = None) -> object:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        attempt = 0
        # Every endpoint gets a try for a call that never left; the policy bounds the rest.
        while True:
            attempt += 1
            idx = self._current
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.DeadlineExceeded("context deadline exceeded")
            try:
                return self._transports[idx].call(method, request, left)
            except errors.Unavailable as e:
                sent = getattr(e, "sent", True)
                self._next_endpoint(idx)
                if not sent and attempt < len(self._transports):
                    continue
                if not self.retry.should_retry(method, request, e, attempt, sent):
                    raise
                time.sleep(min(self.retry.backoff_s(attempt), max(0.0, deadline - time.monotonic())))
            except errors.DeadlineExceeded as e:
                self._next_endpoint(idx)
                if len(self._transports) > 1 and self.retry.should_retry(
                        method, request, errors.Unavailable(e.message), attempt, True):
                    continue
                raise

    def transport(self, index: int | None = None):
        """The current endpoint's transport (for streams), logged in if the client has a
        user."""
        if self.user is not None and not self._token:
            self._login(None)
        return self._transports[self._current if index is None else index]

    # -- KV ---------------------------------------------------------------------------------

    def get(self, key, range_end=None, *, prefix: bool = False, from_key: bool = False,
            limit: int = 0, revision: int = 0, sort_order: kv.SortOrder = kv.SortOrder.NONE,
            sort_target: kv.SortTarget = kv.SortTarget.KEY, serializable: bool = False,
            keys_only: bool = False, count_only: bool = False, min_mod_revision: int = 0,
            max_mod_revision: int = 0, min_create_revision: int = 0,
            max_create_revision: int = 0, timeout_s: float | None = None) -> kv.RangeResponse:
        k, e = key_range(key, range_end, prefix=prefix, from_key=from_key)
        req = kv.RangeRequest(key=k, range_end=e, limit=limit, revision=revision,
                              sort_order=kv.SortOrder(sort_order),
                              sort_target=kv.SortTarget(sort_target),
                              serializable=serializable, keys_only=keys_only,
                              count_only=count_only, min_mod_revision=min_mod_revision,
                              max_mod_revision=max_mod_revision,
                              min_create_revision=min_create_revision,
                              max_create_revision=max_create_revision)
        return self.call("Range", req, timeout_s)

    def get_value(self, key, **kw) -> bytes | None:
        """The value of one key, or None if it does not exist."""
        r = self.get(key, **kw)
        return r.kvs[0].value if r.kvs else None

    def get_prefix(self, prefix, **kw) -> kv.RangeResponse:
        return self.get(prefix, prefix=True, **kw)

    def range(self, key, range_end, **kw) -> kv.RangeResponse:
        return self.get(key, range_end, **kw)

    def put(self, key, value, *, lease: int = 0, prev_kv: bool = False,
            ignore_value: bool = False, ignore_lease: bool = False,
            timeout_s: float | None = None) -> kv.PutResponse:
        req = kv.PutRequest(key=to_bytes(key), value=to_bytes(value), lease=lease,
                            prev_kv=prev_kv, ignore_value=ignore_value,
                            ignore_lease=ignore_lease)
        return self.call("Put", req, timeout_s)

    def delete(self, key, range_end=None, *, prefix: bool = False, from_key: bool = False,
               prev_kv: bool = False, timeout_s: float | None = None) -> kv.DeleteRangeResponse:
        k, e = key_range(key, range_end, prefix=prefix, from_key=from_key)
        return self.call("DeleteRange", kv.DeleteRangeRequest(key=k, range_end=e,
                                                              prev_kv=prev_kv), timeout_s)

    def delete_prefix(self, prefix, **kw) -> kv.DeleteRangeResponse:
        return self.delete(prefix, prefix=True, **kw)

    def txn(self, txn: Txn | kv.TxnRequest | None = None, *, compare=(), success=(),
            failure=(), timeout_s: float | None = None) -> kv.TxnResponse:
        if txn is None:
            txn = Txn(tuple(compare), tuple(success), tuple(failure))
        req = txn.request() if isinstance(txn, Txn) else txn
        return self.call("Txn", req, timeout_s)

    def compact(self, revision: int, *, physical: bool = False,
                timeout_s: float | None = None) -> kv.CompactionResponse:
        return self.call("Compact", kv.CompactionRequest(revision=revision, physical=physical),
                         timeout_s)

    # -- Cluster and Maintenance ------------------------------------------------------------

    def status(self, timeout_s: float | None = None) -> cluster.StatusResponse:
        return self.call("Status", cluster.StatusRequest(), timeout_s)

    def members(self, timeout_s: float | None = None) -> cluster.MemberListResponse:
        return self.call("MemberList", cluster.MemberListRequest(), timeout_s)

    def member_add(self, peer_urls, is_learner: bool = False,
                   timeout_s: float | None = None) -> cluster.MemberAddResponse:
        """Add a member (a learner if `is_learner`) that will listen on `peer_urls` (a URL or
        a list); it joins once started with --initial-cluster-state existing."""
        urls = check_peer_urls((peer_urls,) if isinstance(peer_urls, str) else tuple(peer_urls))
        return self.call("MemberAdd", cluster.MemberAddRequest(peer_urls=urls,
                                                               is_learner=is_learner), timeout_s)

    def member_remove(self, member_id: int,
                      timeout_s: float | None = None) -> cluster.MemberRemoveResponse:
        return self.call("MemberRemove", cluster.MemberRemoveRequest(id=member_id), timeout_s)

    def member_update(self, member_id: int, peer_urls,
                      timeout_s: float | None = None) -> cluster.MemberUpdateResponse:
        urls = check_peer_urls((peer_urls,) if isinstance(peer_urls, str) else tuple(peer_urls))
        return self.call("MemberUpdate", cluster.MemberUpdateRequest(id=member_id,
                                                                     peer_urls=urls), timeout_s)

    def member_promote(self, member_id: int,
                       timeout_s: float | None = None) -> cluster.MemberPromoteResponse:
        """Make a learner a voting member (it must have caught up with the leader)."""
        return self.call("MemberPromote", cluster.MemberPromoteRequest(id=member_id), timeout_s)

    def alarms(self, timeout_s: float | None = None) -> cluster.AlarmResponse:
        return self.call("Alarm", cluster.AlarmRequest(action=cluster.AlarmAction.GET),
                         timeout_s)

    def alarm_disarm(self, member_id: int = 0,
                     alarm: cluster.AlarmType = cluster.AlarmType.NONE,
                     timeout_s: float | None = None) -> cluster.AlarmResponse:
        return self.call("Alarm", cluster.AlarmRequest(action=cluster.AlarmAction.DEACTIVATE,
                                                       member_id=member_id, alarm=alarm),
                         timeout_s)

    def hash_kv(self, revision: int = 0,
                timeout_s: float | None = None) -> cluster.HashKVResponse:
        return self.call("HashKV", cluster.HashKVRequest(revision=revision), timeout_s)

    def move_leader(self, target_id: int,
                    timeout_s: float | None = None) -> cluster.MoveLeaderResponse:
        return self.call("MoveLeader", cluster.MoveLeaderRequest(target_id=target_id),
                         timeout_s)

    def defragment(self, timeout_s: float | None = None):
        return self.call("Defragment", DefragmentRequest(), timeout_s)

    def snapshot(self, timeout_s: float | None = None):
        """An iterator of snapshot chunks (rpc.SnapshotResponse)."""
        return self.transport().stream("Snapshot", [SnapshotRequest()], timeout_s or
                                        self.timeout_s)

    def version(self, timeout_s: float | None = None) -> dict:
        """GET /version: {"etcdserver": ..., "etcdcluster": ...} (HTTP endpoints only)."""
        return self.transport().get_json("/version", timeout_s or self.timeout_s)

    def health(self, timeout_s: float | None = None) -> dict:
        return self.transport().get_json("/health", timeout_s or self.timeout_s)

    # -- Lease ------------------------------------------------------------------------------

    def lease_grant(self, ttl_s: int, lease_id: int = 0,
                    timeout_s: float | None = None) -> m.LeaseGrantResponse:
        return self.call("LeaseGrant", m.LeaseGrantRequest(ttl=ttl_s, id=lease_id), timeout_s)

    def lease_revoke(self, lease_id: int,
                     timeout_s: float | None = None) -> m.LeaseRevokeResponse:
        return self.call("LeaseRevoke", m.LeaseRevokeRequest(id=lease_id), timeout_s)

    def lease_time_to_live(self, lease_id: int, keys: bool = False,
                           timeout_s: float | None = None) -> m.LeaseTimeToLiveResponse:
        return self.call("LeaseTimeToLive", m.LeaseTimeToLiveRequest(id=lease_id, keys=keys),
                         timeout_s)

    def leases(self, timeout_s: float | None = None) -> m.LeaseLeasesResponse:
        return self.call("LeaseLeases", m.LeaseLeasesRequest(), timeout_s)

    def lease_keep_alive_once(self, lease_id: int,
                              timeout_s: float | None = None) -> m.LeaseKeepAliveResponse:
        """One refresh. TTL 0 in the answer means the lease is gone (etcd does not error)."""
        t = timeout_s or self.timeout_s
        stream = self.transport().stream("LeaseKeepAlive", [m.LeaseKeepAliveRequest(id=lease_id)], t)
        try:
            for resp in stream:
                return resp
            raise errors.Unavailable("keep-alive stream ended without an answer")
        finally:
            stream.close()

    def keep_alive(self, lease_id: int, *, interval_s: float | None = None):
        """A background refresher, usable as a context manager (lease.KeepAlive)."""
        from .lease import KeepAlive
        return KeepAlive(self, lease_id, interval_s=interval_s)

    def lease(self, ttl_s: int, *, keep_alive: bool = True):
        """Grant a lease and keep it alive for the `with` block, revoking it at the end."""
        from .lease import Lease
        return Lease(self, ttl_s, keep_alive=keep_alive)

    # -- Watch ------------------------------------------------------------------------------

    def watch(self, key, range_end=None, *, prefix: bool = False, from_key: bool = False,
              start_revision: int = 0, prev_kv: bool = False, filters=(),
              progress_notify: bool = False, require_leader: bool = False, callback=None):
        """A watch.Watch: iterate it for WatchResponses (events), or pass `callback` to have
        each response delivered from a background thread. require_leader: a member without
        a leader ends the stream, and the watch resumes on the next endpoint."""
        from .watch import Watch
        k, e = key_range(key, range_end, prefix=prefix, from_key=from_key)
        w = Watch(self, m.WatchCreateRequest(key=k, range_end=e, start_revision=start_revision,
                                             prev_kv=prev_kv, filters=tuple(filters),
                                             progress_notify=progress_notify),
                  require_leader=require_leader)
        if callback is not None:
            w.start_callback(callback)
        return w

    # -- Concurrency ------------------------------------------------------------------------

    def lock(self, name, *, ttl_s: int = 60):
        from .concurrency import Lock
        return Lock(self, name, ttl_s=ttl_s)

    def election(self, name, *, ttl_s: int = 60):
        from .concurrency import Election
        return Election(self, name, ttl_s=ttl_s)
