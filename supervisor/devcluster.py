"""`petcd cluster --size N`: a local development cluster on loopback in one command.

Members are named infra1..infraN with etcd's Procfile ports (client 2379, 22379, 32379, ...;
peers 2380, 22380, 32380, ...; ZeroMQ one below the client port), data in ./infraN.petcd.
Their output is prefixed with their names. Ctrl-C (or SIGTERM) stops them all.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import click

READY = b"ready to serve client requests"


def member_ports(i: int, offset: int = 0) -> tuple[int, int, int]:
    base = (2379 if i == 0 else i * 10000 + 12379) + offset
    return base, base + 1, base - 1   # client, peer, zmq


def _pump(name: str, stream, ready: threading.Event) -> None:
    for line in iter(stream.readline, b""):
        if READY in line:
            ready.set()
        sys.stderr.write(f"{name:>7} | {line.decode(errors='replace')}")
    stream.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--size", default=3, show_default=True, type=click.IntRange(1, 9),
              help="number of members")
@click.option("--heartbeat-interval", default=100, show_default=True, help="ms")
@click.option("--election-timeout", default=1000, show_default=True, help="ms")
@click.option("--port-offset", default=0, show_default=True,
              help="added to every port, to run beside another cluster")
def cluster(size: int, heartbeat_interval: int, election_timeout: int, port_offset: int) -> None:
    """Start a local cluster of SIZE members on 127.0.0.1."""
    names = [f"infra{i + 1}" for i in range(size)]
    ports = {n: member_ports(i, port_offset) for i, n in enumerate(names)}
    initial = ",".join(f"{n}=http://127.0.0.1:{p[1]}" for n, p in ports.items())
    procs: dict[str, subprocess.Popen] = {}
    ready: dict[str, threading.Event] = {}
    for n in names:
        client, peer, zmq_port = ports[n]
        cmd = [sys.executable, "-m", "petcd.supervisor", "--name", n,
               "--listen-client-urls", f"http://127.0.0.1:{client}",
               "--advertise-client-urls", f"http://127.0.0.1:{client}",
               "--listen-client-zmq-urls", f"tcp://127.0.0.1:{zmq_port}",
               "--listen-peer-urls", f"http://127.0.0.1:{peer}",
               "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
               "--initial-cluster", initial, "--initial-cluster-token", "petcd-dev-cluster",
               "--heartbeat-interval", str(heartbeat_interval),
               "--election-timeout", str(election_timeout)]
        procs[n] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        ready[n] = threading.Event()
        threading.Thread(target=_pump, args=(n, procs[n].stdout, ready[n]), daemon=True).start()

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    announced = False
    code = 0
    while not stopping.is_set():
        if not announced and all(e.is_set() for e in ready.values()):
            endpoints = ",".join(f"http://127.0.0.1:{ports[n][0]}" for n in names)
            click.echo(f"cluster of {size} ready: {endpoints}", err=True)
            announced = True
        dead = [n for n, p in procs.items() if p.poll() is not None]
        if dead:
            click.echo(f"petcd cluster: {', '.join(dead)} exited; stopping the cluster", err=True)
            code = 1
            break
        time.sleep(0.1)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    sys.exit(code)
