"""lock and elect: etcdctl's concurrency commands, on the client-side recipes
(petcd.client.concurrency)."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading

import click

from . import display as d
from .cli import EXIT_BAD_ARGS, CtlExit, ctl, out


def _hold_until_signal() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass


@ctl.command("lock", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--ttl", default=10, type=int)
@click.pass_obj
def lock(ctx, args, ttl):
    """Acquires a named lock"""
    if not args:
        raise CtlExit(EXIT_BAD_ARGS, "lock takes a lock name argument and an optional command "
                                     "to execute.")
    with ctx.client().lock(args[0], ttl_s=ttl) as lk:
        if len(args) > 1:
            env_cmd = list(args[1:])
            rc = subprocess.run(env_cmd, check=False).returncode
            if rc != 0:
                sys.exit(rc)
            return
        out(d.text(lk.key) + "\n")
        _hold_until_signal()


@ctl.command("elect")
@click.argument("args", nargs=-1)
@click.option("-l", "--listen", is_flag=True, default=False)
@click.option("--ttl", default=60, type=int, hidden=True)
@click.pass_obj
def elect(ctx, args, listen, ttl):
    """Observes and participates in leader election"""
    if listen and len(args) != 1 or not listen and len(args) != 2:
        raise CtlExit(EXIT_BAD_ARGS, "elect takes one election name argument and an optional "
                                     "proposal argument.")
    e = ctx.client().election(args[0], ttl_s=ttl)
    if listen:
        try:
            for leader in e.observe():
                out(d.simple_kv(leader, ctx.hex))
        except KeyboardInterrupt:
            pass
        return
    e.campaign(args[1])
    try:
        r = ctx.client().get(e.key)
        out(d.simple_get(r, ctx.hex))
        _hold_until_signal()
    finally:
        e.resign()
