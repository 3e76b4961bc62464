"""The one table of pipes between the stages of a member (DESIGN.md section 1).

Each pipe is a ZeroMQ socket pair over `ipc://<data-dir>/run/<name>.sock`. The table says who
binds (the side that lives longest or has many peers), the socket types, and the high-water
mark that bounds its queue. Everything else in ipc/ reads this table; no stage names a socket
path of its own.
"""
from __future__ import annotations

import hashlib
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
    # wal pushes here too: the messages that waited on an append it wrote (stages/wal/writer.py).
    Pipe("sendc", "raft", "transport", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    Pipe("recvc", "transport", "raft", *PUSH_PULL, bind_side="receiver", hwm=10_000),
    # Every stage reports to the supervisor: ready, or failed with a reason.
    Pipe("ctlc", "stage", "supervisor", *PUSH_PULL, bind_side="receiver", hwm=1_000),
)}

BROADCAST_TOPIC = b"*"
MAX_SOCKET_PATH = 100


def run_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "run")


def address(data_dir: str, pipe: str) -> str:
    path = os.path.join(run_dir(data_dir), f"{pipe}.sock")
    if len(path) <= MAX_SOCKET_PATH:
        return "ipc://" + path
    # Unix socket paths are limited to 107 bytes; a deeper data dir uses Linux's abstract
    # namespace instead, named after the data dir so that two members never share a pipe.
    digest = hashlib.sha1(os.path.abspath(data_dir).encode()).hexdigest()[:20]
    return f"ipc://@petcd-{digest}-{pipe}"


def worker_topic(worker: int) -> bytes:
    return b"w%d" % worker
