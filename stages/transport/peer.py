"""The transport stage's loop: Raft messages between members over ZeroMQ TCP.

Theory of operation: one ROUTER socket listens on --listen-peer-urls; for every other member of
the cluster, one DEALER socket (its identity is our member id) connects to that member's first
peer URL, and ZeroMQ reconnects it with back-off whenever the link drops. Each turn, everything
raft queued on sendc is grouped by destination and sent as one frame per peer; everything
received is handed to raft as one batch. Queues are bounded by the high-water mark: a frame
that does not fit (the peer is down or far behind) is dropped and the peer reported
unreachable, so raft probes it instead of streaming into the void.

Snapshots: a MsgSnap is not sent as a message. snapshot.py streams the leader's LMDB store
after it on a second connection per peer, and the receiving transport hands the MsgSnap to raft
only once the whole store is on its disk, verified.

`http://host:port` peer URLs mean the same TCP address as `tcp://host:port`, so etcd command
lines work unchanged.
"""
from __future__ import annotations

import struct
from urllib.parse import urlsplit

import zmq

from petcd.common import codec
from petcd.common.ids import initial_members, parse_initial_cluster
from petcd.common.lease import LeaseAnswer, LeaseAsk
from petcd.common.pipeline import Many, PeerMessages, PeerUnreachable, SnapshotChunk
from petcd.common.types import MessageType
from petcd.ipc.channel import Receiver, Sender
from petcd.ipc.loop import Loop
from petcd.ipc.stage import StageContext
from .snapshot import SnapshotReceiver, SnapshotSender

_ID = struct.Struct(">Q")
_FORWARDED = (LeaseAsk, LeaseAnswer)   # what raft sends to raft on other members, besides raft
PEER_HWM = 10_000            # frames queued per peer before it counts as unreachable
RECONNECT_IVL_MS = 100
RECONNECT_IVL_MAX_MS = 2_000


def tcp_address(url: str, bind: bool = False) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("tcp", "http", "https") or not parts.hostname or not parts.port:
        raise ValueError(f"bad peer URL {url!r} (want tcp://host:port or http://host:port)")
    host = parts.hostname
    if bind and host in ("localhost",):
        host = "127.0.0.1"
    return f"tcp://{host}:{parts.port}"


class Transport:
    """The sockets and the routing; `send` and `receive` are what the loop calls."""

    def __init__(self, ctx: zmq.Context, self_id: int, listen_urls, peers: dict[int, str]) -> None:
        self.self_id = self_id
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.RCVHWM, PEER_HWM)
        for url in listen_urls:
            self.router.bind(tcp_address(url, bind=True))
        self.dealers: dict[int, zmq.Socket] = {}
        for node_id, url in peers.items():
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.IDENTITY, _ID.pack(self_id))
            d.setsockopt(zmq.LINGER, 0)
            d.setsockopt(zmq.SNDHWM, PEER_HWM)
            d.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
            d.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
            # Queue only for peers that are connected: frames for a dead peer fail at once.
            d.setsockopt(zmq.IMMEDIATE, 1)
            d.connect(tcp_address(url))
            self.dealers[node_id] = d

    def send(self, batches: list) -> tuple[set[int], list]:
        """Send one frame per peer; return the peers found unreachable and the MsgSnaps,
        which the caller streams with their stores. Besides raft's messages, `batches` may
        hold lease questions and answers for the leader (anything with a `to`)."""
        by_peer: dict[int, list] = {}
        extra: dict[int, list] = {}
        snapshots: list = []
        for batch in batches:
            if not isinstance(batch, PeerMessages):
                extra.setdefault(batch.to, []).append(batch)
                continue
            for m in batch.messages:
                if m.type == MessageType.SNAP:
                    snapshots.append(m)
                    continue
                by_peer.setdefault(m.to, []).append(m)
        unreachable: set[int] = set()
        for node_id in by_peer.keys() | extra.keys():
            d = self.dealers.get(node_id)
            if d is None:
                unreachable.add(node_id)
                continue
            items = extra.get(node_id, [])
            if node_id in by_peer:
                items.insert(0, PeerMessages(tuple(by_peer[node_id])))
            try:
                d.send(codec.encode(items[0] if len(items) == 1 else Many(tuple(items))),
                       zmq.NOBLOCK)
            except zmq.Again:
                unreachable.add(node_id)
        return unreachable, snapshots

    def receive(self) -> tuple[list, list[SnapshotChunk], list]:
        """Raft messages, snapshot chunks, and the rest (lease questions and answers)."""
        msgs: list = []
        chunks: list[SnapshotChunk] = []
        others: list = []
        while True:
            try:
                _, frame = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            except ValueError:  # not two frames: not a peer of ours
                continue
            try:
                batch = codec.decode(frame)
            except codec.CodecError:
                continue  # garbage on the peer port never reaches raft
            for item in batch.items if isinstance(batch, Many) else (batch,):
                if isinstance(item, PeerMessages):
                    msgs.extend(item.messages)
                elif isinstance(item, SnapshotChunk):
                    chunks.append(item)
                elif isinstance(item, _FORWARDED):
                    others.append(item)
        return msgs, chunks, others

    def close(self) -> None:
        self.router.close(0)
        for d in self.dealers.values():
            d.close(0)


def main(ctx: StageContext) -> None:
    cfg = ctx.config
    members = initial_members(cfg)
    me = next(m for m in members if m.name == cfg.name)
    overrides = parse_initial_cluster(cfg.peer_dial_overrides) if cfg.peer_dial_overrides else {}
    peers = {m.id: overrides.get(m.name, m.peer_urls)[0] for m in members if m.id != me.id}
    transport = Transport(ctx.zmq, me.id, cfg.listen_peer_urls, peers)
    sendc = Receiver(ctx.zmq, cfg.data_dir, "sendc")
    recvc = Sender(ctx.zmq, cfg.data_dir, "recvc")
    loop = Loop()
    snap_sender = SnapshotSender(
        ctx.zmq, loop, cfg.data_dir, me.id, {i: tcp_address(u) for i, u in peers.items()},
        recvc.send, cfg.snapshot_chunk_bytes, cfg.snapshot_stall_timeout_ms / 1000.0)
    snap_receiver = SnapshotReceiver(cfg.data_dir)

    def on_sendc() -> None:
        unreachable, snapshots = transport.send(sendc.drain())
        for node_id in sorted(unreachable):
            recvc.send(PeerUnreachable(node_id))
        for m in snapshots:
            snap_sender.start(m)

    def on_peer() -> None:
        msgs, chunks, others = transport.receive()
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
