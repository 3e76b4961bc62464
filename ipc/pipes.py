"""The one table of pipes between the stages of a member (DESIGN.md section 1).

Each pipe is a ZeroMQ socket pair over `ipc://<data-dir>/run/<name>.sock`. The table says who
binds (the side that lives longest or has many peers), the socket types, and the high-water
mark that bounds its queue. Everything else in ipc/ reads this table; no stage names a socket
path of its own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import zmq


@dataclass(frozen=True, slots=True)
class Pipe:
    name: str
    sender: str          # stage that sends
    receiver: str        # stage that receives
    sender_type: int
    receiver_type: int
    bind_side: str       # "sender" or "receiver"
    hwm: int             # queued messages per socket before senders block (bounded queues)


PUSH_PULL = (zmq.PUSH, zmq.PULL)
PUB_SUB = (zmq.PUB, zmq.SUB)

PIPES: dict[str, Pipe] = {p.name: p for p in (
    # Many api workers push into raft, so raft binds.
    Pipe("propc", "api", "raft", *PUSH_PULL, bind_side="receiver", hwm=100_000),
    # raft publishes read-index results and status to every api worker (topic = worker id).
    Pipe("readc", "raft", "api", *PUB_SUB, bind_side="sender", hwm=100_000),
    Pipe("appendc", "raft", "wal", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    Pipe("respc", "wal", "raft", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    Pipe("applyc", "raft", "apply", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    Pipe("appliedc", "apply", "raft", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    # apply publishes results (topic = worker id) and the applied index (topic = b"*").
    Pipe("resultc", "apply", "api", *PUB_SUB, bind_side="sender", hwm=100_000),
    Pipe("sendc", "raft", "transport", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    Pipe("recvc", "transport", "raft", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    # Every stage reports to the supervisor: ready, or failed with a reason.
    Pipe("ctlc", "stage", "supervisor", *PUSH_PULL, bind_side="receiver", hwm=1_000),
)}

BROADCAST_TOPIC = b"*"


def run_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "run")


def address(data_dir: str, pipe: str) -> str:
    path = os.path.join(run_dir(data_dir), f"{pipe}.sock")
    # Unix socket paths are limited (108 bytes on Linux); say so instead of failing obscurely.
    if len(path) > 100:
        raise ValueError(f"data dir path too long for ipc sockets: {path}")
    return "ipc://" + path


def worker_topic(worker: int) -> bytes:
    return b"w%d" % worker
