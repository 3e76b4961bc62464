"""An api worker process: the gRPC, HTTP and ZeroMQ listeners around one KVService.

Theory of operation: one asyncio loop (uvloop) runs the HTTP server (uvicorn, httptools parser,
our ASGI app) and the gRPC server (grpclib) on the same client ports (grpc/listener.py tells
their connections apart), the ZeroMQ client listener, and the tasks that read readc (read-index results,
raft status) and resultc (write results, applied index). Reads open LMDB directly through a
read-only MvccReader. Sends to raft use a plain non-blocking PUSH socket: the pipe's high-water
mark bounds it, and a full pipe becomes "too many requests" rather than an unbounded queue.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
from urllib.parse import urlsplit

import grpclib.health.service
import prometheus_client
import uvicorn
import zmq

from petcd.common import cluster, codec, hoptrace
from petcd.common.errors import ErrTooManyRequests, EtcdError
from petcd.common import identity
from petcd.common.pipeline import (
    Applied, ApplyResult, Many, ProposalFailed, RaftStatus, ReadIndexResult, StoreMoved,
    TransferLeadershipStarted,
)
from petcd.ipc.channel import Sender, _socket
from petcd.ipc.pipes import BROADCAST_TOPIC, run_dir, worker_topic
from petcd.ipc.stage import StageContext
from petcd.common.layout import db_dir
from petcd.common.lease import LeaseAnswer
from petcd.stages.apply.answered import AnsweredIndex
from petcd.stages.apply.reader import MvccReader
from .http.failpoints import FailpointEndpoint
from .http.app import GatewayApp, auth_routes
from .lease_service import LeaseService, min_lease_ttl_s
from .member_service import MemberService
from petcd.common.config import parse_retention
from .http.net_http import GoHttpProtocol
from .compactor import Compactor
from .member_memory import member_resident_bytes
from .watch_hub import WatchHub
from .watch_stream import WatchStream
from .service import KVService, MemberState
from .snapshot import snapshot as snapshot_stream
from .grpc import listener as grpc_listener
from . import jwt_tokens, limits, nesting, tls
from .grpc.services import mapping as grpc_mapping, unary_calls
from .auth_service import AuthService, request_cert_user, request_token
from petcd.common.auth import AuthApplied
from petcd.common.concurrency import LeaderRequest
from petcd.common.proto import rpc_pb2, v3election_pb2
from .concurrency import Concurrency
from .grpc.streams import keep_alive_handler, server_stream_handler, watch_handler
from .grpc.unary import Checks
from .leader_monitor import LeaderMonitor
from .native import curve
from .native.front_end import ZmqFrontEnd
from .native.watch import ZmqWatchStreams

SERVER_VERSION = "3.4.23"
# How long a stopping worker lets the requests it is serving finish before it cuts their
# connections, as a process exit would (no half answer). A request waiting for a body its
# client never sends would otherwise hold uvicorn's graceful shutdown until the supervisor's
# SIGKILL (supervisor/launcher.py STOP_GRACE_S, 10 s); well below that, and above any answer
# a healthy member gives.
SHUTDOWN_GRACE_S = 2.0
# Plain ints: pyzmq's flag enums cost a Python call per use.
_NOBLOCK, _EVENTS, _POLLIN = int(zmq.NOBLOCK), int(zmq.EVENTS), int(zmq.POLLIN)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise ValueError(f"bad client URL {url!r} (want http://host:port)")
    return parts.hostname, parts.port


def _listen(url: str) -> socket.socket:
    """A listening socket for a client URL. Every api worker binds the same port; the kernel
    spreads connections (SO_REUSEPORT)."""
    host, port = _host_port(url)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Worker:
    def __init__(self, ctx: StageContext, worker: int = 1) -> None:
        cfg = ctx.config
        self.ctx = ctx
        self.cfg = cfg
        self.worker = worker
        me = identity.of(cfg)
        self.member = MemberState(me.cluster_id, me.member_id)
        self.reader = MvccReader.open(db_dir(cfg.data_dir), quota_backend_bytes=cfg.quota_bytes,
                                      answered=AnsweredIndex.open_reader(run_dir(cfg.data_dir)))
        self.propc = Sender(ctx.zmq, cfg.data_dir, "propc")
        self._outbox: list = []
        self._flush_scheduled = False
        self.service = KVService(
            worker=worker, reader=self.reader, member=self.member,
            send_proposal=self._push, send_read_index=self._push,
            request_timeout_s=cfg.request_timeout_s, max_txn_ops=cfg.max_txn_ops,
            max_request_bytes=cfg.max_request_bytes, proposal_window=cfg.api_proposal_window)
        self.auth = AuthService(self.service, self.reader, token_ttl_s=cfg.auth_token_ttl,
                                bcrypt_cost=cfg.bcrypt_cost,
                                max_concurrent_authenticate=cfg.auth_max_concurrent_authenticate,
                                jwt=jwt_tokens.tokens_of(cfg.auth_token))
        self.service.auth = self.auth
        self.cluster = MemberService(self.service, self.reader)
        self.leases = LeaseService(
            self.service, min_ttl_s=min_lease_ttl_s(cfg.heartbeat_interval, cfg.election_timeout),
            send=self._push)
        self.watch_hub: WatchHub | None = None  # made on the loop, in run()
        self.locks = Concurrency(self.service, self.leases, lambda: self.watch_hub)
        self.watch_streams: set[WatchStream] = set()
        self.zmq_streams: ZmqWatchStreams | None = None  # worker 1's, made in run()
        self._registry = self._metric_registry()

    def new_watch_stream(self, send, require_leader: bool = False,
                         token: str | None = None, *, front_end: str) -> WatchStream:
        """A watch stream for one client stream (HTTP request, gRPC stream or ZeroMQ stream
        id), whose watches are made with `token` (default: the request's); front_end: "http",
        "grpc" or "zmq" (whose refusals it counts)."""
        token = request_token.get() if token is None else token
        cert_user = request_cert_user.get()
        stream = WatchStream(
            self.watch_hub, self.member.header, send,
            fragment_bytes=self.cfg.max_request_bytes + 512 * 1024,  # etcd's gRPC limit
            progress_interval_s=self.cfg.watch_progress_notify_interval_ms / 1000,
            require_leader=require_leader,
            permit=lambda key, range_end: self.auth.watch_refusal(token, key, range_end,
                                                                  cert_user),
            max_watchers=self.cfg.max_watchers_per_stream, front_end=front_end)
        self.watch_streams.add(stream)
        stream.closed_callback = self.watch_streams.discard
        return stream

    def metrics(self) -> bytes:
        """Prometheus text for what this worker counts (etcd's metric names)."""
        return prometheus_client.generate_latest(self._registry)

    def _metric_registry(self) -> prometheus_client.CollectorRegistry:
        # Gauges read live values at scrape time: nothing to keep in step.
        registry = prometheus_client.CollectorRegistry()
        registry.register(limits.LimitHitsCollector())
        hub = lambda: self.watch_hub  # noqa: E731
        supervisor_pid = os.getppid()  # stages are the supervisor's children
        for name, doc, read in (
                ("etcd_debugging_mvcc_watch_stream_total", "open watch streams",
                 lambda: len(self.watch_streams)),
                ("etcd_debugging_mvcc_watcher_total", "watchers",
                 lambda: len(hub()) if hub() else 0),
                ("etcd_debugging_mvcc_slow_watcher_total", "watchers catching up from disk",
                 lambda: hub().unsynced if hub() else 0),
                ("petcd_watch_slow_watchers_total", "watchers that ever fell behind",
                 lambda: hub().slow_watchers_total if hub() else 0),
                ("petcd_watch_events_read_total", "events read from LMDB for watchers",
                 lambda: hub().events_read if hub() else 0),
                # etcd's (Go's process collector); here the whole member, see member_memory
                ("process_resident_memory_bytes", "resident memory of the member's processes",
                 lambda: member_resident_bytes(supervisor_pid)),
                ("petcd_zmq_watch_streams", "open watch streams on the ZeroMQ listener",
                 lambda: len(self.zmq_streams) if self.zmq_streams is not None else 0),
                ("petcd_zmq_watch_streams_expired_total",
                 "ZeroMQ watch streams ended because their client sent nothing for the keepalive",
                 lambda: self.zmq_streams.expired_total if self.zmq_streams is not None else 0),
                ("petcd_zmq_watch_peers_gone_total",
                 "ZeroMQ watch streams ended because their connection was gone",
                 lambda: self.zmq_streams.peers_gone_total if self.zmq_streams is not None else 0)):
            prometheus_client.Gauge(name, doc, registry=registry).set_function(read)
        return registry

    def _push(self, value: object) -> None:
        """Queue a message for raft; everything queued in one loop iteration leaves as one
        frame (raft then wakes once per batch)."""
        if len(self._outbox) >= self.cfg.api_max_inflight_requests:
            raise EtcdError(ErrTooManyRequests.code, ErrTooManyRequests.message)
        self._outbox.append(value)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._outbox:
            return
        items, self._outbox = self._outbox, []
        frame = codec.encode(Many.of(items))
        if hoptrace.ON:
            hoptrace.point("send propc")
        try:
            self.propc.socket.send(frame, zmq.NOBLOCK)
        except zmq.Again:  # raft's pipe is full: try again shortly rather than drop
            self._outbox = items + self._outbox
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(0.001, self._flush)

    async def status(self) -> cluster.StatusResponse:
        st = self.member.status
        # As etcd: active alarms and a missing leader are reported in errors.
        errors = [f"memberID:{m} alarm:{a.name} " for m, a in self.reader.alarms()]
        if st.lead == 0:
            errors.append("etcdserver: no leader")
        return cluster.StatusResponse(
            header=self.member.header(self.reader.current_revision()), version=SERVER_VERSION,
            errors=tuple(errors),
            db_size=self.reader.size_bytes(), leader=st.lead,
            # raft republishes its commit index only now and then; what this member has
            # applied was committed, so the larger of the two is the fresher.
            raft_index=max(st.commit, self.service.applied.index),
            raft_term=st.term, raft_applied_index=self.service.applied.index,
            db_size_in_use=self.reader.size_in_use_bytes(), is_learner=st.is_learner)

    async def hash(self, req: cluster.HashRequest) -> cluster.HashResponse:
        await self.auth.admin(raw=True)
        return cluster.HashResponse(header=self.member.header(self.reader.current_revision()),
                                    hash=self.reader.hash())

    async def hash_kv(self, req: cluster.HashKVRequest) -> cluster.HashKVResponse:
        await self.auth.admin(raw=True)
        h, rev, compact = self.reader.hash_kv(req.revision)
        return cluster.HashKVResponse(header=self.member.header(rev), hash=h,
                                      compact_revision=compact)

    async def snapshot(self, req: cluster.SnapshotRequest | None = None):
        """The store's snapshot stream (snapshot.py), copied through this worker's reader;
        root only when auth is on."""
        await self.auth.admin(raw=True)
        async for chunk in snapshot_stream(self.reader, os.path.join(self.cfg.data_dir, "run")):
            yield chunk

    async def members(self) -> cluster.MemberListResponse:
        return await self.cluster.list()

    def is_learner(self) -> bool:
        return self.member.status.is_learner

    def _unary_calls(self) -> dict:
        """gRPC path -> (request type, coroutine): every unary call of etcd's services."""
        return unary_calls(self.service, self.leases, self.cluster, self.status, self.hash,
                           self.hash_kv, self.locks, self.auth)

    def _grpc_server(self, has_leader) -> grpc_listener.GrpcServer:
        """etcd's gRPC services over this worker's service layer."""
        checks = Checks(has_leader, self.is_learner, cert_users=self.cfg.client_cert_auth)
        unary = self._unary_calls()
        streams = {
            "/v3electionpb.Election/Observe": server_stream_handler(
                checks, LeaderRequest, self.locks.observe, v3election_pb2.LeaderRequest,
                v3election_pb2.LeaderResponse),
            "/etcdserverpb.Maintenance/Snapshot": server_stream_handler(
                checks, cluster.SnapshotRequest, self.snapshot, rpc_pb2.SnapshotRequest,
                rpc_pb2.SnapshotResponse),
            "/etcdserverpb.Watch/Watch": watch_handler(
                checks, functools.partial(self.new_watch_stream, front_end="grpc")),
            "/etcdserverpb.Lease/LeaseKeepAlive": keep_alive_handler(checks,
                                                                     self.leases.keep_alive),
        }
        methods = grpc_mapping(checks, unary, streams)
        methods.update(grpclib.health.service.Health().__mapping__())  # "" is SERVING
        cfg = self.cfg
        return grpc_listener.GrpcServer(
            methods, max_request_bytes=cfg.max_request_bytes, max_txn_ops=cfg.max_txn_ops,
            max_concurrent_streams=cfg.max_concurrent_streams,
            max_request_header_bytes=cfg.max_request_header_bytes,
            keepalive_interval_s=cfg.grpc_keepalive_interval,
            keepalive_timeout_s=cfg.grpc_keepalive_timeout)

    def _on_readable(self, sock: zmq.Socket) -> None:
        """Drain a pipe socket (edge-triggered: until ZeroMQ says nothing is queued, which
        also re-arms its FD; asking costs half of reading into pyzmq's Again) and dispatch."""
        while sock.getsockopt(_EVENTS) & _POLLIN:
            sock.recv(_NOBLOCK)  # the topic
            frame = sock.recv(_NOBLOCK)  # a message's frames arrive together
            if hoptrace.ON:
                hoptrace.point(self._trace_recv[sock])
            value = codec.decode(frame)
            if type(value) is Many:
                for v in value.items:
                    self._dispatch(v)
            else:
                self._dispatch(value)

    def _dispatch(self, value: object) -> None:
        service = self.service
        if isinstance(value, ApplyResult):
            service.on_result(value)
        elif isinstance(value, Applied):
            service.applied.advance(value.index, value.revision)
            if self.watch_hub is not None:
                self.watch_hub.on_applied(value.revision)
        elif isinstance(value, StoreMoved):
            # Defragmented: read the new file before anything a later Applied announces.
            self.reader.reopen()
        elif isinstance(value, ReadIndexResult):
            service.reads.resolve(value.ctx, value.index)
        elif isinstance(value, RaftStatus):
            service.on_status(value)
        elif isinstance(value, ProposalFailed):
            service.on_proposal_failed(value)
        elif isinstance(value, TransferLeadershipStarted):
            service.on_transfer_started(value)
        elif isinstance(value, LeaseAnswer):
            self.leases.on_answer(value)
        elif isinstance(value, AuthApplied):
            self.auth.on_applied(value)

    async def run(self) -> None:
        topics = (worker_topic(self.worker), BROADCAST_TOPIC)
        loop = asyncio.get_running_loop()
        # The pipes are read with plain sockets and the loop's reader callbacks: one callback
        # drains a whole batch, with none of the per-message futures of zmq.asyncio.
        subs = []
        self._trace_recv: dict[zmq.Socket, str] = {}
        for pipe in ("readc", "resultc"):
            sock = _socket(self.ctx.zmq, self.cfg.data_dir, pipe, "receiver")
            for t in topics:
                sock.setsockopt(zmq.SUBSCRIBE, t)
            subs.append(sock)
            self._trace_recv[sock] = f"recv {pipe}"
            loop.add_reader(sock.getsockopt(zmq.FD), self._on_readable, sock)
        self.service.applied.advance(self.reader.applied_index(), self.reader.current_revision())
        self.watch_hub = WatchHub(self.reader, buffer_events=self.cfg.watch_buffer_events,
                                  page_events=self.cfg.watch_buffer_events,
                                  schedule=loop.call_soon)
        for sock in subs:
            self._on_readable(sock)
        has_leader = lambda: self.member.status.lead != 0  # noqa: E731
        app = GatewayApp(self.service, self.status, self.members, leases=self.leases,
                         max_request_bytes=self.cfg.max_request_bytes,
                         extra_routes={
                             **auth_routes(self.auth),
                             "maintenance/hash": (cluster.HashRequest, self.hash),
                             "maintenance/hashkv": (cluster.HashKVRequest, self.hash_kv),
                             "maintenance/defragment": (cluster.DefragmentRequest,
                                                        self.service.defragment)},
                         watch_stream=functools.partial(self.new_watch_stream,
                                                        front_end="http"),
                         has_leader=has_leader,
                         metrics=self.metrics, member_service=self.cluster,
                         is_learner=self.is_learner, snapshot=self.snapshot,
                         locks=self.locks,
                         failpoints=FailpointEndpoint(self.ctx.zmq, self.cfg.data_dir,
                                                      self.cfg.api_workers)
                         if self.cfg.debug_failpoints else None)
        grpc = self._grpc_server(has_leader)
        http_urls = self.cfg.listen_client_http_urls
        # As etcd: each client URL serves gRPC and HTTP on one port, unless HTTP has URLs of
        # its own (--listen-client-http-urls), which then serve HTTP alone, and the client
        # URLs gRPC alone.
        http_protocol = (GoHttpProtocol if http_urls else
                         grpc_listener.shared_port_protocol(grpc, GoHttpProtocol))
        servers, listeners = [], []
        max_head_bytes = self.cfg.max_request_header_bytes
        tls_context = tls.server_context(self.cfg)
        secure = lambda url: tls_context if url.lower().startswith("https://") else None  # noqa: E731
        for url in http_urls or self.cfg.listen_client_urls:
            listeners.append(_listen(url))
            config = uvicorn.Config(app, loop="none", http=http_protocol,
                                    lifespan="off", access_log=False, log_level="warning",
                                    server_header=False, date_header=False,
                                    proxy_headers=False,  # the head bound: http/coalesce.py
                                    h11_max_incomplete_event_size=max_head_bytes)
            config.load()
            config.ssl = secure(url)  # ours, with ALPN for gRPC (uvicorn's has none)
            servers.append(uvicorn.Server(config))
        grpc_only = [await grpc.serve(_listen(url), ssl=secure(url))
                     for url in (self.cfg.listen_client_urls if http_urls else ())]
        for s in servers:
            s.install_signal_handlers = lambda: None  # the worker handles signals itself
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        serving = [asyncio.create_task(s.serve(sockets=[sock]))
                   for s, sock in zip(servers, listeners)]
        first = self.worker == 1  # the ZeroMQ listener, compactor and publish: one per member
        cfg = self.cfg
        if first:
            self.zmq_streams = ZmqWatchStreams(
                functools.partial(self.new_watch_stream, front_end="zmq"), has_leader,
                window_bytes=cfg.zmq_stream_window_bytes,
                keepalive_ms=cfg.zmq_stream_keepalive_ms,
                max_streams_per_connection=cfg.zmq_max_streams_per_connection,
                is_learner=self.is_learner)
        front = ZmqFrontEnd(self.service, self.status, self.members,
                            max_frame_bytes=2 * self.cfg.max_request_bytes + 1024 * 1024,
                            leases=self.leases, member_service=self.cluster,
                            is_learner=self.is_learner, streams=self.zmq_streams,
                            # ZMTP heartbeats drop dead connections well within a lease
                            heartbeat_ms=max(100, cfg.zmq_stream_keepalive_ms // 4),
                            # every unary call of the gRPC table, by its method name
                            extra_methods={path.rsplit("/", 1)[1]: call
                                           for path, call in self._unary_calls().items()},
                            max_txn_ops=cfg.max_txn_ops,
                            max_requests_per_connection=cfg.zmq_max_requests_per_connection,
                            max_queued_bytes_per_connection=(
                                cfg.zmq_max_queued_bytes_per_connection))
        monitor = asyncio.create_task(LeaderMonitor(
            has_leader, lambda: self.watch_streams,
            election_timeout_s=cfg.election_timeout / 1000).run())
        if first:
            if cfg.zmq_curve_secret_key_file:
                zmq_ctx, keys, self._zap = curve.listener(cfg.zmq_curve_secret_key_file,
                                                          cfg.zmq_curve_authorized_keys_dir)
                front.bind(zmq_ctx, cfg.listen_client_zmq_urls, keys)
            else:
                front.bind(self.ctx.zmq, cfg.listen_client_zmq_urls)
        front.start()
        compactor = Compactor(
            self.service, self.cfg.auto_compaction_mode,
            parse_retention(self.cfg.auto_compaction_mode, self.cfg.auto_compaction_retention),
            is_leader=lambda: first and self.member.status.lead == self.member.member_id)
        compactor_task = asyncio.create_task(compactor.run())
        while not all(s.started for s in servers):
            if any(t.done() for t in serving):
                for t in serving:
                    if t.done() and t.exception():
                        raise t.exception()
                raise OSError("could not start the client listener (address in use?)")
            await asyncio.sleep(0.01)
        # As etcd, serve only once the member has a leader: before that every request would
        # just wait.
        while self.member.status.lead == 0 and not stop.is_set():
            await asyncio.sleep(0.01)
        # Then publish our name and client URLs through raft, as etcd does before it says it
        # is ready (it needs a quorum, so a member alone in a cluster of three waits here).
        while first and not stop.is_set():
            try:
                await self.service.publish_attributes(self.cfg.name,
                                                      tuple(self.cfg.advertise_client_urls))
                break
            except EtcdError:
                await asyncio.sleep(0.1)
        self.ctx.ready()
        await stop.wait()
        for stream in list(self.watch_streams):  # open watches would hold uvicorn's shutdown
            stream.close()
        for g in grpc_only:
            g.close()
        await grpc.close()
        for s in servers:
            s.should_exit = True
        _, late = await asyncio.wait(serving, timeout=SHUTDOWN_GRACE_S)
        if late:
            # The requests cut here end by cancellation, which uvicorn logs as an error with
            # a traceback; they are stopped on purpose, not failing.
            logging.getLogger("uvicorn.error").disabled = True
            for s in servers:
                s.force_exit = True
                for conn in list(s.server_state.connections):
                    transport = getattr(conn, "transport", None)
                    if transport is not None:
                        transport.abort()
        await asyncio.gather(*serving, return_exceptions=True)
        for sock in subs:
            loop.remove_reader(sock.getsockopt(zmq.FD))
        compactor_task.cancel()
        monitor.cancel()
        front.close()
        if getattr(self, "_zap", None) is not None:
            self._zap.stop()


def main(ctx: StageContext) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        pass
    # Every walk of a txn (decoders, validator, encoders of its answer) recurses per level of
    # nesting; the deepest txn that can pass takes more frames than Python's default allows.
    nesting.allow_deep_txns(ctx.config.max_txn_ops)
    worker = Worker(ctx, worker=int(os.environ.get("PETCD_STAGE_INSTANCE", "1")))
    asyncio.run(worker.run())
