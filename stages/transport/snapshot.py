"""Streaming the leader's store to a follower that needs a snapshot (etcd's snapshot sender).

Theory of operation. Raft's MsgSnap carries only metadata (index, term, membership); the state
is the LMDB store. When raft asks transport to deliver a MsgSnap:

  sender    a thread copies the store (a consistent LMDB read transaction, compacted) to a
            temporary file in member/snap/; the loop then streams it in `chunk_bytes` pieces on
            a dedicated DEALER per peer whose high-water mark is tiny, so the file is read only
            as fast as the peer takes it and at most a few chunks sit in memory. Raft's
            heartbeats use the other socket and are never stuck behind a snapshot. When the
            last chunk is queued, raft hears SnapshotStatus(ok); if the stream makes no progress
            for `stall_timeout_s`, it hears SnapshotStatus(failed) and will retry later.
  receiver  chunks are appended to `<index>.snap.db.part`, with a running CRC-32. A chunk at
            an unexpected offset drops the partial file (the sender restarted or lost frames).
            The last chunk carries the size and CRC of the whole stream; if both match, the
            file is fsynced and renamed to member/snap/<index>.snap.db, and only then is the
            MsgSnap handed to raft. Apply installs that file once the WAL holds the snapshot.

The copy holds the store at the leader's applied index, which is at or past the raft
snapshot's index (etcd does the same): apply skips entries at or below the applied index the
copy carries, so the follower replays nothing twice.

Must never: hand raft a MsgSnap whose store is not complete, verified and durable; hold a
whole store in memory.
"""
from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable

import lmdb
import zmq

from petcd.common import codec
from petcd.common.layout import db_dir, snap_dir, snapshot_db_path
from petcd.common.pipeline import SnapshotChunk, SnapshotStatus
from petcd.common.types import Message
from petcd.ipc.loop import Loop
from petcd.stages.apply import schema
from petcd.stages.wal.fileutil import fsync_dir, pwrite_all

log = logging.getLogger(__name__)

_ID = struct.Struct(">Q")
SNAPSHOT_HWM = 2          # chunks queued per peer: the file is read as fast as the peer reads
PART_SUFFIX = ".part"


@dataclass
class _Outgoing:
    message: Message
    path: str
    started: float
    progress: float
    file: object = None        # open once the copy is done
    offset: int = 0
    size: int = 0
    crc: int = 0
    copy_error: str = ""


class SnapshotSender:
    def __init__(self, zctx: zmq.Context, loop: Loop, data_dir: str, self_id: int,
                 peer_addresses: dict[int, str], report: Callable[[SnapshotStatus], None],
                 chunk_bytes: int, stall_timeout_s: float, curve=None) -> None:
        """curve: curve.PeerCurve, when the peer links use the cluster's key."""
        self.curve = curve
        self.loop = loop
        self.data_dir = data_dir
        self.report = report
        self.chunk_bytes = chunk_bytes
        self.stall_timeout_s = stall_timeout_s
        self.streams: dict[int, _Outgoing] = {}
        self.sockets: dict[int, zmq.Socket] = {}
        self.addresses: dict[int, str] = {}
        self._zctx = zctx
        self._self_id = self_id
        self.set_peers(peer_addresses)
        # The copy threads wake the loop through this pair when a copy is done.
        self._wake_rx = zctx.socket(zmq.PAIR)
        self._wake_rx.bind(f"inproc://snapshot-copied-{id(self)}")
        self._wake_tx = zctx.socket(zmq.PAIR)
        self._wake_tx.connect(f"inproc://snapshot-copied-{id(self)}")
        self._wake_lock = threading.Lock()
        self._copy_lock = threading.Lock()
        self._env: lmdb.Environment | None = None
        self._env_target = ""  # the generation directory self._env was opened in
        loop.on_readable(self._wake_rx, self._on_copied)
        loop.every(1.0, self._check_stalls)

    def set_peers(self, addresses: dict[int, str]) -> None:
        """Follow the membership: a stream to a removed or moved peer fails (raft retries it
        at the new address, if any)."""
        for node_id in list(self.sockets):
            if self.addresses.get(node_id) != addresses.get(node_id):
                if node_id in self.streams:
                    self._finish(node_id, failed=True)
                self.sockets.pop(node_id).close(0)
                del self.addresses[node_id]
        for node_id, address in addresses.items():
            if node_id in self.sockets:
                continue
            d = self._zctx.socket(zmq.DEALER)
            # Distinct from the message socket's identity: a ROUTER needs unique identities.
            d.setsockopt(zmq.IDENTITY, _ID.pack(self._self_id) + b"snap")
            d.setsockopt(zmq.LINGER, 0)
            d.setsockopt(zmq.SNDHWM, SNAPSHOT_HWM)
            d.setsockopt(zmq.IMMEDIATE, 1)
            if self.curve is not None:
                self.curve.client(d)
            d.connect(address)
            self.sockets[node_id] = d
            self.addresses[node_id] = address

    # -- starting -----------------------------------------------------------------------------

    def start(self, m: Message) -> None:
        """Deliver MsgSnap `m`; a stream already running to that peer stands for it."""
        if m.to not in self.sockets:
            self.report(SnapshotStatus(m.to, failed=True))
            return
        if m.to in self.streams:
            return
        now = time.monotonic()
        path = os.path.join(snap_dir(self.data_dir), f"send-{m.to:016x}.snap.db.tmp")
        stream = _Outgoing(message=m, path=path, started=now, progress=now)
        self.streams[m.to] = stream
        threading.Thread(target=self._copy, args=(m.to, stream), daemon=True,
                         name=f"snapshot-copy-{m.to:x}").start()

    def _copy(self, peer: int, stream: _Outgoing) -> None:
        try:
            with self._copy_lock:   # one copy at a time: they compete for the same disk
                env = self._open_env()
                fd = os.open(stream.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    schema.copy_to_fd(env, fd)
                finally:
                    os.close(fd)
        except Exception as e:  # reported to the loop, never raised in a thread
            stream.copy_error = f"{type(e).__name__}: {e}"
        with self._wake_lock:
            self._wake_tx.send(_ID.pack(peer))

    def _open_env(self) -> lmdb.Environment:
        # member/db is a symlink that a defragmentation moves (stages/apply/defrag.py): an env
        # opened on an older target would copy a store that no longer changes.
        target = os.path.realpath(db_dir(self.data_dir))
        if self._env is not None and self._env_target != target:
            self._env.close()
            self._env = None
        if self._env is None:
            env = schema.open_env(target, 0, readonly=True,
                                  max_readers=schema.DEFAULT_MAX_READERS)
            env.set_mapsize(0)
            self._env, self._env_target = env, target
        return self._env

    # -- streaming ----------------------------------------------------------------------------

    def _on_copied(self) -> None:
        while True:
            try:
                peer = _ID.unpack(self._wake_rx.recv(zmq.NOBLOCK))[0]
            except zmq.Again:
                return
            stream = self.streams.get(peer)
            if stream is None:
                continue
            if stream.copy_error:
                log.warning("snapshot for %x: copying the store failed: %s", peer,
                            stream.copy_error)
                self._finish(peer, failed=True)
                continue
            stream.file = open(stream.path, "rb")
            stream.size = os.fstat(stream.file.fileno()).st_size
            stream.progress = time.monotonic()
            log.info("sending snapshot at index %d (%d bytes) to %x",
                     stream.message.snapshot.metadata.index, stream.size, peer)
            self.loop.on_writable(self.sockets[peer], lambda p=peer: self._pump(p))

    def _pump(self, peer: int) -> None:
        stream = self.streams.get(peer)
        if stream is None or stream.file is None:
            return
        sock = self.sockets[peer]
        while True:
            data = stream.file.read(self.chunk_bytes)
            done = stream.offset + len(data) >= stream.size
            crc = zlib.crc32(data, stream.crc)
            chunk = SnapshotChunk(stream.message, stream.offset, data, done,
                                  stream.size if done else 0, crc if done else 0)
            try:
                sock.send(codec.encode(chunk), zmq.NOBLOCK)
            except zmq.Again:
                stream.file.seek(stream.offset)  # resend this chunk when there is room
                return
            stream.crc = crc
            stream.offset += len(data)
            stream.progress = time.monotonic()
            if done:
                log.info("sent snapshot at index %d to %x", stream.message.snapshot.metadata.index,
                         peer)
                self._finish(peer, failed=False)
                return

    def _check_stalls(self) -> None:
        now = time.monotonic()
        for peer, stream in list(self.streams.items()):
            if stream.file is not None and now - stream.progress > self.stall_timeout_s:
                log.warning("snapshot to %x made no progress for %.0f s; abandoned", peer,
                            self.stall_timeout_s)
                self._finish(peer, failed=True)

    def _finish(self, peer: int, failed: bool) -> None:
        stream = self.streams.pop(peer)
        if stream.file is not None:
            stream.file.close()
            self.loop.forget(self.sockets[peer])
        try:
            os.unlink(stream.path)
        except FileNotFoundError:
            pass
        self.report(SnapshotStatus(peer, failed=failed))

    def close(self) -> None:
        for s in self.sockets.values():
            s.close(0)
        self._wake_rx.close(0)
        self._wake_tx.close(0)
        if self._env is not None:
            self._env.close()


@dataclass
class _Incoming:
    index: int
    path: str
    fd: int
    offset: int = 0
    crc: int = 0


class SnapshotReceiver:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.streams: dict[int, _Incoming] = {}
        # A partial file from before a crash can never complete: its stream is gone.
        for name in os.listdir(snap_dir(data_dir)):
            if name.endswith(PART_SUFFIX) or name.startswith("send-"):
                os.unlink(os.path.join(snap_dir(data_dir), name))

    def on_chunk(self, c: SnapshotChunk) -> Message | None:
        """Take one chunk; the MsgSnap once its store is complete, verified and durable."""
        m = c.message
        if m.snapshot is None:
            return None
        index = m.snapshot.metadata.index
        stream = self.streams.get(m.frm)
        if c.offset == 0:
            if stream is not None:
                self._drop(m.frm)
            path = snapshot_db_path(self.data_dir, index) + PART_SUFFIX
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            stream = self.streams[m.frm] = _Incoming(index, path, fd)
            log.info("receiving snapshot at index %d from %x", index, m.frm)
        elif stream is None or stream.index != index or stream.offset != c.offset:
            if stream is not None:
                log.warning("snapshot from %x: chunk at offset %d, expected %d; dropped",
                            m.frm, c.offset, stream.offset)
                self._drop(m.frm)
            return None
        pwrite_all(stream.fd, c.data, stream.offset)
        stream.offset += len(c.data)
        stream.crc = zlib.crc32(c.data, stream.crc)
        if not c.done:
            return None
        if c.size != stream.offset or c.crc32 != stream.crc:
            log.warning("snapshot from %x at index %d failed its check (size %d/%d, crc %08x/"
                        "%08x); dropped", m.frm, index, stream.offset, c.size, stream.crc,
                        c.crc32)
            self._drop(m.frm)
            return None
        os.fsync(stream.fd)
        os.close(stream.fd)
        del self.streams[m.frm]
        final = snapshot_db_path(self.data_dir, index)
        os.replace(stream.path, final)
        fsync_dir(snap_dir(self.data_dir))
        log.info("received snapshot at index %d from %x (%d bytes)", index, m.frm, stream.offset)
        return m

    def _drop(self, frm: int) -> None:
        stream = self.streams.pop(frm)
        os.close(stream.fd)
        try:
            os.unlink(stream.path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        for frm in list(self.streams):
            self._drop(frm)

