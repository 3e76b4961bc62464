"""lock and elect: etcdctl's concurrency commands, on the client-side recipes
(petcd.client.concurrency)."""
from __future__ import annotations

import signal
import threading

import click

from . import display as d
from .cli import EXIT_BAD_ARGS, EXIT_ERROR, CtlExit, ctl, out, run_command
from .cmd_kv import print_get


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
                                     "to execute")
    c = ctx.client()
    with c.lock(args[0], ttl_s=ttl) as lk:
        if len(args) > 1:
            err = run_command(list(args[1:]))
            if err:
                raise CtlExit(EXIT_ERROR, err)
            return
        r = c.get(lk.key)
        if not r.kvs:
            raise CtlExit(EXIT_ERROR, "lock lost on init")
        print_get(ctx, r)
        _hold_until_signal()


@ctl.command("elect")
@click.argument("args", nargs=-1)
@click.option("-l", "--listen", is_flag=True, default=False)
@click.option("--ttl", default=60, type=int, hidden=True)
@click.pass_obj
def elect(ctx, args, listen, ttl):
    """Observes and participates in leader election"""
    if len(args) not in (1, 2):
        raise CtlExit(EXIT_BAD_ARGS, "elect takes one election name argument and an optional "
                                     "proposal argument")
    if len(args) == 1 and not listen:
        raise CtlExit(EXIT_BAD_ARGS, "no proposal argument but -l not set")
    if len(args) == 2 and listen:
        raise CtlExit(EXIT_BAD_ARGS, "proposal given but -l is set")
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
        print_get(ctx, ctx.client().get(e.key))
        _hold_until_signal()
    finally:
        e.resign()
