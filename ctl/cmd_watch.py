"""watch: etcdctl's watch command (one watch from arguments, or -i for commands on stdin),
with etcdctl's `-- <command>` form that runs a command per event.

Theory of operation, as etcdctl 3.4's watch_command.go: the key, the range end and the
command after `--` are read from the raw command line (parse_watch_args; ETCDCTL_WATCH_KEY
and ETCDCTL_WATCH_RANGE_END may give the range instead). With -i each line of stdin is a
command of its own, split as etcdctl splits it (argify) and parsed with its own flags:
`watch [options] <key> [range_end] [-- command]`; each watch runs on a thread of its own while
the next line is read, and the end of the input ends petcdctl (exit 3). Every response the
server sends is printed, the one that cancels a watch too (after `watch was canceled
(<reason>)` on stderr); a canceled watch ends a non-interactive watch (exit 5). Errors met on
a watch's thread end the process from there, as etcdctl's os.Exit does.
"""
from __future__ import annotations

import ast
import dataclasses
import os
import re
import sys
import threading

import click

from petcd.client import errors, messages as m
from petcd.client.ranges import key_range
from petcd.client.watch import Watch
from petcd.common.kv import EventType
from . import arg_errors, display as d
from .cli import (EXIT_BAD_ARGS, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_INVALID_INPUT, RAW_ARGS,
                  CtlExit, ctl, out, run_command)

ERR_BAD_ARGS_NUM = "bad number of arguments"
ERR_CONFLICT_ENV = "bad number of arguments (found conflicting environment key)"
ERR_SEPARATOR = "bad number of arguments (found separator --, but no commands)"
ERR_INTERACTIVE = "args[0] must be 'watch' for interactive calls"
ERR_PREFIX_RANGE = "`range_end` and `--prefix` are mutually exclusive"
COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE_REV = "etcdserver: mvcc: required revision is a future revision"


class WatchArgsError(ValueError):
    pass


class GoPanic(Exception):
    """Where etcdctl panics (its process ends with exit code 2)."""


@dataclasses.dataclass(frozen=True)
class WatchOptions:
    prefix: bool = False
    rev: int = 0
    prev_kv: bool = False


# -- arguments (pure) -----------------------------------------------------------------------

_ARG = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\'"\t\n\f\r ][^\t\n\f\r ]*[^\'"\t\n\f\r ]?')
_GO_ESCAPE = re.compile(r'\\(?:[abfnrtv\\"]|x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4}|'
                        r'U[0-9a-fA-F]{8})')


def argify(line: str) -> list[str]:
    """etcdctl's split of an interactive line: words, "Go-quoted" and 'single-quoted'
    strings (ValueError: a quoted string Go cannot unquote). etcdctl 3.4 cuts a
    single-quoted word as word[1:len(words)-1] (the number of words, not the word's
    length), and so does this; where that slice is out of range etcdctl panics (GoPanic)."""
    words = _ARG.findall(line)
    for i, w in enumerate(words):
        if w.startswith("'"):
            end = len(words) - 1
            if end < 1:
                raise GoPanic(f"runtime error: slice bounds out of range [1:{end}]")
            if end > len(w):
                raise GoPanic(f"runtime error: slice bounds out of range [:{end}] with "
                              f"length {len(w)}")
            words[i] = w[1:end]
        elif w.startswith('"'):
            try:
                if "\\" in _GO_ESCAPE.sub("", w[1:-1]):
                    raise ValueError
                words[i] = ast.literal_eval(w)
            except (ValueError, SyntaxError):
                raise ValueError("invalid syntax") from None
    return words


def parse_watch_args(os_args: list[str], command_args: list[str], env_key: str = "",
                     env_range: str = "", interactive: bool = False,
                     parse_flags=None) -> tuple[list[str], list[str], WatchOptions | None]:
    """etcdctl's parseWatchArgs: (the key and range end, the command after `--`, and for an
    interactive line its options). `os_args` is the raw command line, `command_args` the
    watch command's arguments once its flags are parsed (an interactive line's words, the
    first one `watch`); `parse_flags(words) -> (arguments, WatchOptions)` parses a line's
    flags (raising WatchArgsError). Errors raise WatchArgsError with etcdctl's message."""
    raw = list(os_args)
    if "watch" in raw:
        raw = raw[raw.index("watch") + 1:]
    watch_args = list(command_args)
    if interactive:
        if not watch_args or watch_args[0] != "watch":
            raise WatchArgsError(ERR_INTERACTIVE)
        watch_args = watch_args[1:]
        with_sep = watch_args
    else:
        with_sep = raw
    sep = with_sep.index("--") if "--" in with_sep else None
    if sep is not None and sep == len(with_sep) - 1:
        raise WatchArgsError(ERR_SEPARATOR)
    if not interactive:
        if sep is None and not raw and not env_key:
            raise WatchArgsError(ERR_BAD_ARGS_NUM)
        if sep is not None and env_key:
            # `ETCDCTL_WATCH_KEY=foo watch foo -- echo 1`: an argument before `--`
            r = len(raw) - 1
            for w in reversed(watch_args):
                if r >= 0 and w == raw[r]:
                    r -= 1
                elif r == sep:
                    raise WatchArgsError(ERR_CONFLICT_ENV)
        if sep is None and watch_args and env_key:
            raise WatchArgsError(ERR_CONFLICT_ENV)
        options = None
    else:
        args, options = parse_flags(watch_args)
        if sep is None and not env_key and not args:
            raise WatchArgsError(ERR_BAD_ARGS_NUM)
        if sep is None and args and env_key:
            raise WatchArgsError(ERR_CONFLICT_ENV)
        watch_args = args
    if env_key:
        watch_args = [env_key] + ([env_range] if env_range else []) + watch_args
    if sep is None:
        return watch_args, [], options
    exec_args = with_sep[sep + 1:]
    # the parsed arguments hold the command too: cut them at its first word, found from
    # the end, as etcdctl does
    end = len(watch_args) - 1
    while end >= 0 and watch_args[end] != exec_args[0]:
        end -= 1
    return watch_args[:max(end, 0)], exec_args, options


def watch_range(args: list[str], prefix: bool) -> tuple[str, str | None]:
    """etcdctl's getWatchChan: the key, and the range end if one is given (a third argument
    and more are ignored, as etcdctl ignores them)."""
    if not args:
        raise WatchArgsError(ERR_BAD_ARGS_NUM)
    if len(args) == 2 and prefix:
        raise WatchArgsError(ERR_PREFIX_RANGE)
    return args[0], args[1] if len(args) == 2 else None


def cancel_reason(resp) -> str:
    """clientv3's WatchResponse.Err() for a canceled watch."""
    if resp.compact_revision:
        return COMPACTED
    if not resp.cancel_reason:
        return FUTURE_REV
    if resp.cancel_reason.startswith("etcdserver: "):
        return resp.cancel_reason
    return f"rpc error: code = FailedPrecondition desc = {resp.cancel_reason}"


def exec_env(resp, ev) -> dict[str, str]:
    """What etcdctl adds to the environment of the command it runs for an event (Go's %q of
    the event type, the key and the value)."""
    return {"ETCD_WATCH_REVISION": str(resp.header.revision if resp.header else 0),
            "ETCD_WATCH_EVENT_TYPE": d.go_quote("DELETE" if ev.type == EventType.DELETE
                                                else "PUT"),
            "ETCD_WATCH_KEY": d.go_quote(d.text(ev.kv.key)),
            "ETCD_WATCH_VALUE": d.go_quote(d.text(ev.kv.value))}


def format_response(write_out: str, resp, hex_: bool) -> str:
    if write_out == "json":
        return d.to_json(d.json_watch(resp)) + "\n"
    if write_out == "fields":
        return d.fields_watch(resp)
    if write_out == "simple":
        return d.simple_watch(resp, hex_)
    if write_out == "protobuf":
        raise CtlExit(4, "protobuf output is not supported by petcdctl")
    raise CtlExit(4, f"{write_out} not supported as output format")


# -- running --------------------------------------------------------------------------------

class _Watch(Watch):
    """The client's Watch, keeping the last answer read from the server: the one that
    cancels a watch is printed, and the Watch raises it as an error."""

    last = None

    def _open(self) -> None:
        super()._open()
        self._stream = _Kept(self._stream, self)


class _Kept:
    def __init__(self, stream, owner: _Watch) -> None:
        self.stream, self.owner = stream, owner

    def __iter__(self):
        return self

    def __next__(self):
        self.owner.last = next(self.stream)
        return self.owner.last

    def close(self) -> None:
        self.stream.close()


def _responses(c, key: str, range_end: str | None, opts: WatchOptions):
    """The watch's responses, the one that cancels it last (clientv3's watch channel)."""
    k, e = key_range(key, range_end, prefix=opts.prefix)
    w = _Watch(c, m.WatchCreateRequest(key=k, range_end=e, start_revision=opts.rev,
                                       prev_kv=opts.prev_kv), require_leader=True)
    try:
        yield from w
    except (errors.WatchCompacted, errors.WatchCanceled):
        if w.last is not None and w.last.canceled:
            yield w.last
    finally:
        w.cancel()


_print_lock = threading.Lock()


def _print_watch(ctx, c, key, range_end, opts: WatchOptions, exec_args: list[str]) -> None:
    """etcdctl's printWatchCh: print each response, run the command per event."""
    for resp in _responses(c, key, range_end, opts):
        with _print_lock:
            if resp.canceled:
                sys.stderr.write(f"watch was canceled ({cancel_reason(resp)})\n")
                sys.stderr.flush()
            out(format_response(ctx.write_out, resp, ctx.hex))
        for ev in resp.events if exec_args else ():
            err = run_command(exec_args, dict(os.environ, **exec_env(resp, ev)))
            if err:
                words = " ".join(d.go_quote(a) for a in exec_args)
                with _print_lock:
                    sys.stderr.write(f"command [{words}] error ({err})\n")
                raise CtlExit(EXIT_ERROR, "")


def _exit_now(code: int, message: str) -> None:
    """End the process from any thread, with nothing half written."""
    with _print_lock:
        sys.stdout.flush()
        if message:
            sys.stderr.write(f"Error: {message}\n")
        sys.stderr.flush()
        os._exit(code)


def _in_thread(ctx, c, key, range_end, opts, exec_args) -> None:
    def run() -> None:
        try:
            _print_watch(ctx, c, key, range_end, opts, exec_args)
        except CtlExit as e:
            _exit_now(e.code, e.message)
        except errors.ClientError as e:
            _exit_now(EXIT_ERROR, e.message)
        except BrokenPipeError:
            _exit_now(6, "")
    threading.Thread(target=run, daemon=True, name="watch").start()


def _line_flags(words: list[str]) -> tuple[list[str], WatchOptions]:
    """An interactive line's flags, parsed as the watch command's own (pflag answers -h and
    --help, which the flag set etcdctl parses with does not define, with ErrHelp)."""
    try:
        sub = watch.make_context("watch", list(words), help_option_names=[])
    except click.NoSuchOption as e:
        if e.option_name in ("-h", "--help"):
            raise WatchArgsError("pflag: help requested") from None
        raise WatchArgsError(arg_errors.flag_error(e)) from None
    except click.UsageError as e:
        raise WatchArgsError(arg_errors.flag_error(e) or e.format_message()) from None
    p = sub.params
    return list(p["args"]), WatchOptions(p["prefix"], p["rev"], p["prev_kv"])


def _interactive(ctx, env_key: str, env_range: str) -> None:
    c = ctx.client()
    stdin = sys.stdin.buffer
    while True:
        raw = stdin.readline()
        if not raw.endswith(b"\n"):  # a last line without its newline is not read
            _exit_now(EXIT_INVALID_INPUT, "Error reading watch request line: EOF")
        line = raw[:-1].decode("utf-8", "surrogateescape")
        try:
            args = argify(line)
        except GoPanic as e:
            with _print_lock:
                sys.stdout.flush()
                sys.stderr.write(f"panic: {e}\n")
                sys.stderr.flush()
                os._exit(2)
        except ValueError as e:
            _exit_now(EXIT_INVALID_INPUT, str(e))
        problem = None
        if not args:
            problem = f"Invalid command: {line} (watch and progress supported)"
        elif args[0] == "progress":
            problem = f"Invalid command {line} (progress requests are not supported by " \
                      f"petcdctl)"
        elif args[0] != "watch":
            problem = f"Invalid command {line} (only support watch)"
        elif len(args) < 2 and not env_key:
            problem = f"Invalid command {line} (command type or key is not provided)"
        else:
            try:
                watch_args, exec_args, opts = parse_watch_args(
                    RAW_ARGS, args, env_key, env_range, True, _line_flags)
            except WatchArgsError as e:
                _exit_now(EXIT_BAD_ARGS, str(e))
            try:
                key, range_end = watch_range(watch_args, opts.prefix)
            except WatchArgsError as e:
                problem = f"Invalid command {line} ({e})"
            else:
                _in_thread(ctx, c, key, range_end, opts, exec_args)
        if problem is not None:
            with _print_lock:
                sys.stderr.write(problem + "\n")
                sys.stderr.flush()


@ctl.command("watch", context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("-i", "--interactive", is_flag=True, default=False)
@click.option("--prefix", is_flag=True, default=False)
@click.option("--rev", default=0, type=int)
@click.option("--prev-kv", is_flag=True, default=False)
@click.pass_obj
def watch(ctx, args, interactive, prefix, rev, prev_kv):
    """Watches events stream on keys or prefixes"""
    env_key = os.environ.get("ETCDCTL_WATCH_KEY", "")
    env_range = os.environ.get("ETCDCTL_WATCH_RANGE_END", "")
    if not env_key and env_range:
        raise CtlExit(EXIT_BAD_ARGS, f"ETCDCTL_WATCH_KEY is empty but got "
                                     f"ETCDCTL_WATCH_RANGE_END={d.go_quote(env_range)}")
    if interactive:
        _interactive(ctx, env_key, env_range)
        return
    try:
        watch_args, exec_args, _ = parse_watch_args(RAW_ARGS, list(args), env_key,
                                                    env_range)
        key, range_end = watch_range(watch_args, prefix)
    except WatchArgsError as e:
        raise CtlExit(EXIT_BAD_ARGS, str(e)) from None
    _print_watch(ctx, ctx.client(), key, range_end, WatchOptions(prefix, rev, prev_kv),
                 exec_args)
    raise CtlExit(EXIT_INTERRUPTED, "watch is canceled by the server")
