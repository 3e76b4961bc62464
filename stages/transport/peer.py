"""The transport stage's loop: Raft messages between members over ZeroMQ TCP.

Theory of operation: one ROUTER socket listens on --listen-peer-urls; for every other member of
the cluster, one DEALER socket (its identity is our member id) connects to that member's first
peer URL, and ZeroMQ reconnects it with back-off whenever the link drops. raft encodes its
messages of a turn as one frame per peer (PeerFrame), which is sent as it is; a peer's frames of
raft messages are handed to raft as they came. Only the two rafts decode messages and their
entries: transport reads a frame's type code, not its content. Queues are bounded by the
high-water mark: a frame that does not fit (the peer is down or far behind) is dropped and the peer
reported unreachable, so raft probes it instead of streaming into the void. Every link, both
ends, runs ZeroMQ's heartbeats and a handshake timeout (--peer-keepalive-timeout-ms): a
connection whose far end went silent (a crashed host, a dropped route, a half-closed socket) is
dropped and redialled within that time, instead of ZeroMQ's 30 s handshake wait or TCP's
minutes.

Snapshots: a MsgSnap is not sent as a message. snapshot.py streams the leader's LMDB store
after it on a second connection per peer, and the receiving transport hands the MsgSnap to raft
only once the whole store is on its disk, verified.

Membership: the peers are the cluster's members as apply last recorded them, which raft
passes on (Membership, raft's first thing on sendc at start, then after every change; wal's
acknowledgements may come before it, and go to the members transport started with): a new member
is dialled, a removed one hung up on, a moved one redialled. Each link is watched (a ZeroMQ
socket monitor) and raft hears when it comes up or goes down (PeerActivity), for etcd's strict
reconfiguration checks. A removed member that calls is told so (RemovedNotice), once a second
at most, as etcd's peers answer it 410 Gone; a member told so reports MemberRemoved to the
supervisor. A joining member's supervisor asks for the cluster (ClusterAsk) on the same port.

`http://host:port` peer URLs mean the same TCP address as `tcp://host:port`, so etcd command
lines work unchanged.
"""
from __future__ import annotations

import struct
import time
from typing import Callable
from urllib.parse import urlsplit

import zmq
from zmq.utils.monitor import recv_monitor_message

from petcd.common import codec, identity
from petcd.common.ids import parse_initial_cluster
from petcd.common.lease import LeaseAnswer, LeaseAsk
from petcd.common.membership import (
    ClusterAsk, ClusterInfo, MemberChangeAsk, MemberChangeRefused, MemberRemoved, Membership,
    PeerActivity, RemovedNotice,
)
from petcd.common.pipeline import Many, PeerFrame, PeerMessages, PeerUnreachable, SnapshotChunk
from petcd.ipc.channel import Receiver, Sender
from petcd.ipc.loop import Loop
from petcd.ipc.stage import StageContext
from . import curve
from .snapshot import SnapshotReceiver, SnapshotSender

_ID = struct.Struct(">Q")
_NOBLOCK = int(zmq.NOBLOCK)
_PEER_MESSAGES = codec.code_of(PeerMessages)
# What raft sends to raft on other members, besides raft messages.
_FORWARDED = (LeaseAsk, LeaseAnswer, MemberChangeAsk, MemberChangeRefused)
PEER_HWM = 10_000            # frames queued per peer before it counts as unreachable
RECONNECT_IVL_MS = 100
RECONNECT_IVL_MAX_MS = 2_000
REMOVED_NOTICE_INTERVAL_S = 1.0
_LINK_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED


def tcp_address(url: str, bind: bool = False) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "http", "https") or not parts.hostname or not parts.port:
        raise ValueError(f"bad peer URL {url!r} (want tcp://host:port or http://host:port)")
    host = parts.hostname
    if bind and host in ("localhost",):
        host = "127.0.0.1"
    return f"tcp://{host}:{parts.port}"


class Transport:
    """The sockets and the routing; `send` and `receive` are what the loop calls, `set_peers`
    follows the membership. `on_activity(PeerActivity)` hears of links going up and down,
    `on_removed()` that a peer says this member was removed."""

    def __init__(self, ctx: zmq.Context, loop: Loop, self_id: int, listen_urls,
                 on_activity: Callable[[PeerActivity], None] = lambda a: None,
                 on_removed: Callable[[], None] = lambda: None,
                 keepalive_timeout_ms: int = 5_000,
                 curve=None) -> None:
        self.ctx = ctx
        self.keepalive_timeout_ms = keepalive_timeout_ms
        self.curve = curve  # curve.PeerCurve: every peer socket uses the cluster's key
        self.loop = loop
        self.self_id = self_id
        self.on_activity = on_activity
        self.on_removed = on_removed
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.RCVHWM, PEER_HWM)
        # A peer that redials (it hung up on us after a membership change, or restarted) takes
        # its identity over at once instead of being refused until the old link times out.
        self.router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self._keepalive(self.router)
        if curve is not None:
            curve.server(self.router)
        for url in listen_urls:
            self.router.bind(tcp_address(url, bind=True))
        self.dealers: dict[int, zmq.Socket] = {}
        self.addresses: dict[int, str] = {}
        self._monitors: dict[int, zmq.Socket] = {}
        self._monitor_seq = 0
        self.removed: frozenset[int] = frozenset()
        self._noticed: dict[bytes, float] = {}
        self.cluster_info: ClusterInfo | None = None   # the answer to a joining member

    def set_peers(self, addresses: dict[int, str]) -> None:
        """Dial exactly these peers (id -> tcp address): new ones, and moved ones again."""
        for node_id in list(self.dealers):
            if self.addresses.get(node_id) != addresses.get(node_id):
                self._hang_up(node_id)
        for node_id, address in addresses.items():
            if node_id not in self.dealers:
                self._dial(node_id, address)

    def _dial(self, node_id: int, address: str) -> None:
        d = self.ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.IDENTITY, _ID.pack(self.self_id))
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.SNDHWM, PEER_HWM)
        d.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
        d.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
        # Queue only for peers that are connected: frames for a dead peer fail at once.
        d.setsockopt(zmq.IMMEDIATE, 1)
        self._keepalive(d)
        if self.curve is not None:
            self.curve.client(d)
        # pyzmq names the monitor after the socket's fd, which a redialled peer may reuse.
        self._monitor_seq += 1
        monitor = d.get_monitor_socket(
            _LINK_EVENTS, f"inproc://petcd-peer-{self.self_id:x}-{node_id:x}-{self._monitor_seq}")
        d.connect(address)
        self.dealers[node_id] = d
        self.addresses[node_id] = address
        self._monitors[node_id] = monitor
        self.loop.on_readable(d, lambda: self._on_dealer(d))
        self.loop.on_readable(monitor, lambda: self._on_monitor(node_id, monitor))

    def _keepalive(self, sock: zmq.Socket) -> None:
        timeout_ms = self.keepalive_timeout_ms
        sock.setsockopt(zmq.HANDSHAKE_IVL, timeout_ms)
        sock.setsockopt(zmq.HEARTBEAT_IVL, max(100, timeout_ms // 5))
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, timeout_ms)
        sock.setsockopt(zmq.HEARTBEAT_TTL, timeout_ms)

    def _hang_up(self, node_id: int) -> None:
        d = self.dealers.pop(node_id)
        monitor = self._monitors.pop(node_id)
        del self.addresses[node_id]
        self.loop.forget(d)
        self.loop.forget(monitor)
        d.disable_monitor()
        monitor.close(0)
        d.close(0)
        self.on_activity(PeerActivity(node_id, False))

    def _on_monitor(self, node_id: int, monitor: zmq.Socket) -> None:
        while monitor.poll(0):
            event = recv_monitor_message(monitor)["event"]
            if event in (zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_DISCONNECTED):
                self.on_activity(PeerActivity(node_id, event == zmq.EVENT_HANDSHAKE_SUCCEEDED))

    def _on_dealer(self, d: zmq.Socket) -> None:
        # Peers answer on our own links only to say we were removed.
        while True:
            try:
                frame = d.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                value = codec.decode(frame)
            except codec.CodecError:
                continue
            if isinstance(value, RemovedNotice) and value.member_id == self.self_id:
                self.on_removed()

    def send(self, batches: list) -> tuple[set[int], list]:
        """Send raft's and wal's frames (PeerFrame, encoded by raft) as they are; return the
        peers found unreachable and the MsgSnaps, which the caller streams with their stores.
        Besides, `batches` may hold decoded raft messages (a MsgSnap), and lease and membership
        questions and answers for the leader (anything with a `to`), one frame per peer."""
        frames: list[PeerFrame] = []
        extra: dict[int, list] = {}
        snapshots: list = []
        for batch in batches:
            if type(batch) is PeerFrame:
                frames.append(batch)
            elif isinstance(batch, PeerMessages):
                for f in PeerFrame.per_peer(batch.messages):
                    if type(f) is PeerFrame:
                        frames.append(f)
                    else:
                        snapshots.extend(f.messages)
            else:
                extra.setdefault(batch.to, []).append(batch)
        unreachable: set[int] = set()
        for f in frames:
            self._send(f.to, f.frame, unreachable)
        for node_id, items in extra.items():
            self._send(node_id, codec.encode(Many.of(items)), unreachable)
        return unreachable, snapshots

    def _send(self, node_id: int, frame: bytes, unreachable: set[int]) -> None:
        d = self.dealers.get(node_id)
        if d is None:
            unreachable.add(node_id)
            return
        try:
            d.send(frame, _NOBLOCK)
        except zmq.Again:
            unreachable.add(node_id)

    def receive(self) -> tuple[list[bytes], list[SnapshotChunk], list]:
        """Frames of raft messages, as they came (raft decodes them), snapshot chunks, and the
        rest, decoded (lease and membership questions and answers)."""
        raw: list[bytes] = []
        chunks: list[SnapshotChunk] = []
        others: list = []
        while True:
            try:
                ident, frame = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            except ValueError:  # not two frames: not a peer of ours
                continue
            if self.removed and self._from_removed(ident):
                continue
            if codec.type_code(frame) == _PEER_MESSAGES:
                raw.append(frame)
                continue
            try:
                batch = codec.decode(frame)
            except codec.CodecError:
                continue  # garbage on the peer port never reaches raft
            if isinstance(batch, ClusterAsk):
                if self.cluster_info is not None:
                    self._reply(ident, self.cluster_info)
                continue
            for item in batch.items if isinstance(batch, Many) else (batch,):
                if isinstance(item, PeerMessages):
                    raw.append(codec.encode(item))
                elif isinstance(item, SnapshotChunk):
                    chunks.append(item)
                elif isinstance(item, _FORWARDED):
                    others.append(item)
        return raw, chunks, others

    def _from_removed(self, ident: bytes) -> bool:
        """Whether `ident` (a peer's message or snapshot link) is a removed member's; if so,
        tell it, at most once a second."""
        if len(ident) < _ID.size:
            return False
        node_id = _ID.unpack_from(ident)[0]
        if node_id not in self.removed:
            return False
        now = time.monotonic()
        if now - self._noticed.get(ident, 0.0) >= REMOVED_NOTICE_INTERVAL_S:
            self._noticed[ident] = now
            self._reply(ident, RemovedNotice(node_id))
        return True

    def _reply(self, ident: bytes, value: object) -> None:
        try:
            self.router.send_multipart((ident, codec.encode(value)), zmq.NOBLOCK)
        except (zmq.Again, zmq.ZMQError):
            pass  # the caller is gone or slow; it asks again

    def close(self) -> None:
        self.router.close(0)
        for node_id in list(self.dealers):
            d, monitor = self.dealers.pop(node_id), self._monitors.pop(node_id)
            d.disable_monitor()
            monitor.close(0)
            d.close(0)


def peer_addresses(members, self_id: int, overrides: dict[str, list[str]]) -> dict[int, str]:
    """id -> the TCP address to dial, for every member but this one (an override, by name,
    wins over the member's first peer URL)."""
    return {m.id: tcp_address(overrides.get(m.name, m.peer_urls)[0]) for m in members
            if m.id != self_id and (m.peer_urls or m.name in overrides)}


def main(ctx: StageContext) -> None:
    cfg = ctx.config
    ident = identity.of(cfg)
    overrides = parse_initial_cluster(cfg.peer_dial_overrides) if cfg.peer_dial_overrides else {}
    sendc = Receiver(ctx.zmq, cfg.data_dir, "sendc")
    recvc = Sender(ctx.zmq, cfg.data_dir, "recvc")
    loop = Loop()
    removed = {"reported": False}

    def on_removed() -> None:
        if not removed["reported"]:
            removed["reported"] = True
            ctx.log.warning("a peer says this member has been permanently removed from the "
                            "cluster")
            ctx.report(MemberRemoved("transport"))

    peer_curve = curve.of(cfg)
    peer_ctx = ctx.zmq
    if peer_curve is not None:
        peer_ctx, _zap = peer_curve.context()
    transport = Transport(peer_ctx, loop, ident.member_id, cfg.listen_peer_urls,
                          on_activity=recvc.send, on_removed=on_removed,
                          keepalive_timeout_ms=cfg.peer_keepalive_timeout_ms, curve=peer_curve)
    snap_sender = SnapshotSender(
        peer_ctx, loop, cfg.data_dir, ident.member_id, {}, recvc.send,
        cfg.snapshot_chunk_bytes, cfg.snapshot_stall_timeout_ms / 1000.0, curve=peer_curve)
    snap_receiver = SnapshotReceiver(cfg.data_dir)

    def follow(membership: Membership) -> None:
        # An empty table is a store that has applied nothing yet (a new member): until it has,
        # the cluster as this member first knew it.
        members = membership.members or ident.members
        addresses = peer_addresses(members, ident.member_id, overrides)
        transport.set_peers(addresses)
        snap_sender.set_peers(addresses)
        transport.removed = frozenset(membership.removed)
        transport.cluster_info = ClusterInfo(ident.cluster_id, members)

    # Until raft passes on apply's table (raft's first thing on sendc), the cluster as this
    # member first knew it.
    follow(Membership(ident.members))

    def on_sendc() -> None:
        items = sendc.drain()
        for m in items:
            if isinstance(m, Membership):
                follow(m)
        unreachable, snapshots = transport.send(
            [m for m in items if not isinstance(m, Membership)])
        for node_id in sorted(unreachable):
            recvc.send(PeerUnreachable(node_id))
        for m in snapshots:
            snap_sender.start(m)

    def on_peer() -> None:
        raw, chunks, others = transport.receive()
        for frame in raw:
            recvc.send_frame(frame)
        msgs = []
        for c in chunks:
            try:
                m = snap_receiver.on_chunk(c)
            except OSError as e:   # a full disk fails this snapshot, not the member
                ctx.log.warning("receiving a snapshot failed: %s", e)
                snap_receiver.close()
                continue
            if m is not None:
                msgs.append(m)
        if msgs:
            recvc.send(PeerMessages(tuple(msgs)))
        for item in others:
            recvc.send(item)


    loop.on_readable(sendc.socket, on_sendc)
    loop.on_readable(transport.router, on_peer)
    ctx.ready()
    try:
        loop.run()
    finally:
        snap_sender.close()
        snap_receiver.close()
        transport.close()
