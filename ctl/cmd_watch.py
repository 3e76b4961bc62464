"""watch: etcdctl's watch command (one watch from arguments, or -i for commands on stdin),
with etcdctl's `-- <command>` form that runs a command per event batch."""
from __future__ import annotations

import os
import subprocess
import sys

import click

from petcd.client import errors
from petcd.common.kv import EventType
from . import display as d
from .cli import EXIT_BAD_ARGS, EXIT_ERROR, CtlExit, ctl, out


def _print(ctx, resp) -> None:
    w = ctx.write_out
    if w == "json":
        out(d.to_json(d.etcdctl_json(resp)) + "\n")
    elif w == "fields":
        out(d.fields_watch(resp))
    else:
        out(d.simple_watch(resp, ctx.hex))


def _run(ctx, key, range_end, prefix, rev, prev_kv, command) -> None:
    c = ctx.client()
    w = c.watch(key, range_end, prefix=prefix, start_revision=rev, prev_kv=prev_kv)
    try:
        for resp in w:
            _print(ctx, resp)
            if command:
                for ev in resp.events:
                    env = dict(os.environ, ETCD_WATCH_REVISION=str(resp.header.revision),
                               ETCD_WATCH_EVENT_TYPE="DELETE" if ev.type == EventType.DELETE
                               else "PUT",
                               ETCD_WATCH_KEY=d.text(ev.kv.key),
                               ETCD_WATCH_VALUE=d.text(ev.kv.value))
                    subprocess.run(command, env=env, check=False)
    except errors.WatchCompacted as e:
        raise CtlExit(EXIT_ERROR, f"watch is canceled by the server: required revision has "
                                  f"been compacted (compact revision {e.compact_revision})") \
            from None
    finally:
        w.cancel()


@ctl.command("watch", context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("-i", "--interactive", is_flag=True, default=False)
@click.option("--prefix", is_flag=True, default=False)
@click.option("--rev", default=0, type=int)
@click.option("--prev-kv", is_flag=True, default=False)
@click.pass_obj
def watch(ctx, args, interactive, prefix, rev, prev_kv):
    """Watches events stream on keys or prefixes"""
    args = list(args)
    command = []
    if "--" in sys.argv:
        i = sys.argv.index("--")
        command = sys.argv[i + 1:]
        args = [a for a in args if a not in command]
    if interactive:
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] != "watch":
                sys.stderr.write(f"Invalid command {line.strip()} (only support 'watch')\n")
                continue
            _run(ctx, words[1], words[2] if len(words) > 2 else None, prefix, rev, prev_kv,
                 command)
        return
    if not 1 <= len(args) <= 2:
        raise CtlExit(EXIT_BAD_ARGS, "watch in non-interactive mode requires one or two "
                                     "arguments as key or prefix, with range end")
    if prefix and len(args) > 1:
        raise CtlExit(EXIT_BAD_ARGS, "`--prefix` and range end cannot be set at the same time")
    try:
        _run(ctx, args[0], args[1] if len(args) > 1 else None, prefix, rev, prev_kv, command)
    except KeyboardInterrupt:
        pass
