"""The wal stage's loop: group commit of raft's appends.

Theory of operation: at start, open the WAL (repairing a torn tail, refusing corruption), load
the snapshot it points at, and send raft a `Recovered` with everything needed to rebuild its
log cache. Then, each turn: drain every AppendRequest queued on appendc, write them all (a
snapshot file first, synced, before its marker), one fdatasync for the whole batch, then hand
the messages to peers that waited on the persist (votes, append acknowledgements: each
AppendRequest carries them, encoded for transport) to transport on sendc, and answer each
request with AppendDone in order on respc, in one frame (DESIGN.md section 3).

Why wal sends those messages itself, where DESIGN.md's diagram has them go back through raft:
on a follower the acknowledgement is on every write's critical path, and going through raft
cost one more hop and one more raft turn per append (etcd-io/raft's asynchronous storage does
the same: the append thread delivers a Ready's responses). The messages to raft itself (the
leader's own acknowledgement) still wait for AppendDone in raft.

Must never: acknowledge an append, or let one of its messages leave, before the fdatasync that
covers it returns (an append that needs no sync, such as a refusal, is written first all the
same); block behind transport; continue after a failed write (the WAL closes itself; this
process exits and the member stops).
"""
from __future__ import annotations

import logging
from typing import Callable

from petcd.common import failpoint
from petcd.common.layout import snap_dir, wal_dir
from petcd.common.log import Throttled
from petcd.common.pipeline import AppendDone, AppendRequest, Many, Recovered, SaveSnapshot
from petcd.common.types import EMPTY_HARD_STATE
from petcd.ipc.channel import Receiver, Sender
from petcd.ipc.loop import Loop
from petcd.ipc.stage import StageContext
from . import WAL, Snapshotter


def recover(data_dir: str, segment_size_bytes: int) -> tuple[WAL, Snapshotter, Recovered]:
    snapshotter = Snapshotter(snap_dir(data_dir))
    wal, replay = WAL.open(wal_dir(data_dir), segment_size_bytes=segment_size_bytes)
    snapshot = None
    if replay.snapshot.index > 0:
        snapshot = snapshotter.load(replay.snapshot)
    return wal, snapshotter, Recovered(
        snapshot=snapshot, hard_state=replay.hard_state or EMPTY_HARD_STATE,
        entries=tuple(replay.entries))


log = logging.getLogger("petcd.wal")


class Writer:
    def __init__(self, wal: WAL, snapshotter: Snapshotter, fsync: bool = True,
                 offer_to_peers: Callable[[object], bool] = lambda frames: True) -> None:
        """offer_to_peers: hands transport a Many of the messages that waited on the write,
        without blocking; False if transport's pipe is full."""
        self.wal = wal
        self.snapshotter = snapshotter
        self.fsync = fsync
        self.offer_to_peers = offer_to_peers
        self.dropped_batches = 0
        self._dropped_log = Throttled(log)

    def write(self, requests: list) -> list[AppendDone]:
        """Write and sync `requests`, then let their messages to peers leave; the AppendDones
        for raft."""
        must_sync = False
        released_to = 0
        failpoint.hit("wal.before_write")
        for r in requests:
            if isinstance(r, SaveSnapshot):
                # raft's own snapshot: the state is in LMDB (synced at every apply commit), so
                # once the marker is durable the segments before it are no longer needed.
                failpoint.hit("snapshot.before_save")
                self.snapshotter.save(r.snapshot)
                self.wal.save(None, (), r.snapshot.metadata)
                must_sync = True
                released_to = max(released_to, r.snapshot.metadata.index)
                continue
            marker = None
            if r.snapshot is not None:
                # The snapshot file must be durable before the WAL points at it.
                self.snapshotter.save(r.snapshot)
                marker = r.snapshot.metadata
            if r.hard_state is not None or r.entries or marker is not None:
                self.wal.save(r.hard_state, r.entries, marker)
            must_sync |= r.must_sync
        if must_sync and self.fsync:
            failpoint.hit("wal.before_fsync")
            failpoint.hit("wal.lose_unsynced", before_panic=self.wal.drop_unsynced)
            self.wal.sync()
            failpoint.hit("wal.after_fsync")
        if released_to:
            failpoint.hit("snapshot.after_save")
            self.wal.release_to(released_to)
            self.snapshotter.purge()
            failpoint.hit("wal.after_release")
        self._release_messages(requests)
        return [AppendDone(r.seq) for r in requests if isinstance(r, AppendRequest)]

    def _release_messages(self, requests: list) -> None:
        frames = [f for r in requests if isinstance(r, AppendRequest) for f in r.messages]
        if not frames:
            return
        failpoint.hit("wal.before_send")
        # A stuck transport must not stall wal (and through it the leader's own appends):
        # a batch that does not fit is dropped like a message lost on the network, and
        # the leader sends the entries again.
        if not self.offer_to_peers(Many.of(frames)):
            self.dropped_batches += 1
            self._dropped_log.warning("transport's pipe is full: dropped the answers of an "
                                      "append (%d batches so far)", self.dropped_batches)


def main(ctx: StageContext) -> None:
    cfg = ctx.config
    wal, snapshotter, recovered = recover(cfg.data_dir, cfg.wal_segment_size_bytes)
    sendc = Sender(ctx.zmq, cfg.data_dir, "sendc")
    writer = Writer(wal, snapshotter, fsync=cfg.wal_fsync, offer_to_peers=sendc.offer)
    appendc = Receiver(ctx.zmq, cfg.data_dir, "appendc")
    respc = Sender(ctx.zmq, cfg.data_dir, "respc")
    respc.send(recovered)
    ctx.log.info("wal recovered: %d entries, hard state %s", len(recovered.entries),
                 recovered.hard_state)

    def on_append() -> None:
        requests = appendc.drain()
        if requests:
            done = writer.write(requests)
            if done:  # one frame per batch: raft wakes once per fdatasync
                respc.send(Many.of(done))

    loop = Loop()
    loop.stop_on_signals()
    loop.on_readable(appendc.socket, on_append)
    ctx.ready()
    try:
        loop.run()
    finally:
        wal.close()


