"""The reading side of the watch scale bench: many watchers on few connections, in a child
process, recording the delay of every event.

Theory of operation: `reader_main` runs in its own process (so the writer's timing is not
shared with it under one GIL). It opens `connections` connections, puts `per_connection`
watchers on each (over ZeroMQ: spread over `streams` native streams per connection; over HTTP:
one watch stream per connection, as etcd's gateway opens one gRPC stream per HTTP watch
connection), waits until every watcher is created, and says so on its pipe. Then it reads until
the parent says how many events to expect: each event's value is the monotonic time of its
put call (CLOCK_MONOTONIC is shared by the processes of one machine), so the delay is write
call to receipt. It sends back the delays, counts and the time of the last receipt. Watcher j
watches key `w/<j mod keys>`.
"""
from __future__ import annotations

import array
import base64
import json
import socket
import threading
import time

import msgpack
import zmq

from tests.conformance.watch_client import WatchConn


def key_of(j: int, keys: int) -> bytes:
    return b"w/%05d" % (j % keys)


class Tally:
    def __init__(self) -> None:
        self.delays = array.array("d")
        self.created = 0
        self.last_s = 0.0
        self.lock = threading.Lock()

    def events(self, sent_times: list[float]) -> None:
        now = time.monotonic()
        with self.lock:
            self.delays.extend(now - t for t in sent_times)
            self.last_s = now


def _zmq_reader(pipe, port: int, connections: int, per_connection: int, streams: int,
                keys: int, tally: Tally) -> None:
    ctx = zmq.Context()
    socks, poller = [], zmq.Poller()
    j = 0
    for _ in range(connections):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 0)
        s.connect(f"tcp://127.0.0.1:{port}")
        poller.register(s, zmq.POLLIN)
        socks.append(s)
        for sid in range(1, streams + 1):
            s.send(msgpack.packb({"stream": sid, "open": {"method": "Watch"}}))
            for _ in range(per_connection // streams):
                s.send(msgpack.packb({"stream": sid, "request": {
                    "create_request": {"key": key_of(j, keys)}}}))
                j += 1
    poller.register(pipe.fileno(), zmq.POLLIN)
    ping_at, ready_said, stop_at = time.monotonic() + 2, False, None
    unacked: dict[tuple, int] = {}  # acked in 64 KiB steps: a sixteenth of the window
    expected = None
    while True:
        for sock, _ in poller.poll(200):
            if sock == pipe.fileno():
                expected, stop_at = pipe.recv()
                continue
            while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                raw = sock.recv(zmq.NOBLOCK)
                doc = msgpack.unpackb(raw, raw=False)
                rs = doc.get("responses")
                if rs is None:
                    continue
                sent = []
                for r in rs:
                    if r.get("created"):
                        tally.created += 1
                    for e in r.get("events", ()):
                        sent.append(float(e["kv"]["value"]))
                if sent:
                    tally.events(sent)
                key = (id(sock), doc["stream"])
                unacked[key] = unacked.get(key, 0) + len(raw)
                if unacked[key] >= 65536:
                    sock.send(msgpack.packb({"stream": doc["stream"], "ack": unacked.pop(key)}))
        now = time.monotonic()
        if now > ping_at:  # the streams' keepalive (10 s by default)
            ping_at = now + 2
            for s in socks:
                for sid in range(1, streams + 1):
                    s.send(msgpack.packb({"stream": sid, "ping": 1}))
        if not ready_said and tally.created == j:
            ready_said = True
            pipe.send(("ready", tally.created))
        if expected is not None and (len(tally.delays) >= expected or now > stop_at):
            break
    for s in socks:
        s.close(0)
    ctx.term()


def _http_reader(pipe, port: int, connections: int, per_connection: int, keys: int,
                 tally: Tally) -> None:
    conns, j = [], 0
    for _ in range(connections):
        c = WatchConn(port, timeout_s=120)
        body = []
        for _ in range(per_connection):
            body.append(json.dumps({"create_request": {
                "key": base64.b64encode(key_of(j, keys)).decode()}}))
            j += 1
        c.send("".join(body))
        conns.append(c)
    stop = threading.Event()

    def read(c: WatchConn) -> None:
        try:
            while not stop.is_set():
                r = c.read_line()["result"]
                if r.get("created"):
                    with tally.lock:
                        tally.created += 1
                evs = r.get("events")
                if evs:
                    tally.events([float(base64.b64decode(e["kv"]["value"])) for e in evs])
        except (OSError, ValueError, EOFError):
            pass

    threads = [threading.Thread(target=read, args=(c,), daemon=True) for c in conns]
    for t in threads:
        t.start()
    while tally.created < j:
        time.sleep(0.05)
    pipe.send(("ready", tally.created))
    expected, stop_at = pipe.recv()
    while len(tally.delays) < expected and time.monotonic() < stop_at:
        time.sleep(0.05)
    stop.set()
    for c in conns:  # shut down first: it wakes the thread blocked reading the socket
        try:
            c.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        c.close()


def reader_main(pipe, proto: str, port: int, connections: int, per_connection: int,
                streams: int, keys: int) -> None:
    tally = Tally()
    t0 = time.monotonic()
    if proto == "zmq":
        _zmq_reader(pipe, port, connections, per_connection, streams, keys, tally)
    else:
        _http_reader(pipe, port, connections, per_connection, keys, tally)
    pipe.send(("done", tally.delays.tobytes(), tally.last_s, time.monotonic() - t0))
