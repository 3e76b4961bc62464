"""The transport stage's loop: Raft messages between members.

Theory of operation (this release): a single-member cluster has no peers, so the loop only
drains sendc and reports any message for an unknown member back to raft as unreachable (so the
core probes instead of streaming into the void). Peer connections over ZeroMQ TCP, batching per
peer per turn, reconnects and snapshot streaming arrive with multi-member clusters.
"""
from __future__ import annotations

from petcd.common.pipeline import PeerMessages, PeerUnreachable
from petcd.ipc.channel import Receiver, Sender
from petcd.ipc.loop import Loop
from petcd.ipc.stage import StageContext


def main(ctx: StageContext) -> None:
    cfg = ctx.config
    sendc = Receiver(ctx.zmq, cfg.data_dir, "sendc")
    recvc = Sender(ctx.zmq, cfg.data_dir, "recvc")

    def on_sendc() -> None:
        unreachable: set[int] = set()
        for batch in sendc.drain():
            if isinstance(batch, PeerMessages):
                unreachable.update(m.to for m in batch.messages)
        for node_id in sorted(unreachable):
            recvc.send(PeerUnreachable(node_id))

    loop = Loop()
    loop.stop_on_signals()
    loop.on_readable(sendc.socket, on_sendc)
    ctx.ready()
    loop.run()
