"""The control socket through which the api arms another stage's failpoints at run time.

Theory of operation: with --debug-failpoints on, every stage process runs a small thread that
answers requests on a REP socket at `<run dir>/fp-<stage>.sock`: {"op": "arm", "name", "term"},
{"op": "disarm", "name"} or {"op": "list"}, answered with {"ok": ...} or {"error": ...}. The
api's debug endpoint asks the owning stage and returns only once it answered, so a test that
armed a failpoint knows it is in force. A REP thread (not the stage's loop) answers even while
the loop is busy or asleep in a `sleep` failpoint. Without the flag no socket exists.
"""
from __future__ import annotations

import threading

import msgpack
import zmq

from petcd.common import failpoint
from .pipes import address

ASK_TIMEOUT_MS = 2000


def _address(data_dir: str, stage: str) -> str:
    return address(data_dir, f"fp-{stage}")


def _answer(request: dict) -> dict:
    op = request.get("op")
    try:
        if op == "arm":
            failpoint.arm(request["name"], request["term"])
        elif op == "disarm":
            failpoint.disarm(request["name"])
        elif op != "list":
            return {"error": f"unknown op {op!r}"}
    except (failpoint.FailpointError, KeyError) as e:
        return {"error": str(e)}
    return {"ok": failpoint.armed()}


def serve(data_dir: str, stage: str) -> None:
    # Its own context, never terminated: the stage's context is destroyed at stop, which
    # must not wait for (or close under) a thread blocked in recv. The thread dies with the
    # process.
    sock = zmq.Context().socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(_address(data_dir, stage))

    def run() -> None:
        while True:
            request = msgpack.unpackb(sock.recv())
            sock.send(msgpack.packb(_answer(request)))

    threading.Thread(target=run, name="failpoints", daemon=True).start()


def ask(ctx: zmq.Context, data_dir: str, stage: str, request: dict) -> dict:
    """One request to `stage`'s control socket (blocking; run it off the event loop)."""
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, ASK_TIMEOUT_MS)
    sock.setsockopt(zmq.SNDTIMEO, ASK_TIMEOUT_MS)
    try:
        sock.connect(_address(data_dir, stage))
        sock.send(msgpack.packb(request))
        return msgpack.unpackb(sock.recv())
    except zmq.Again:
        return {"error": f"{stage} stage did not answer"}
    finally:
        sock.close()
