"""The `petcdctl` root command: etcdctl 3.4's global flags, environment, errors, exit codes.

Theory of operation: click parses; everything etcdctl users rely on is kept:
- global flags may come anywhere on the line (cobra's persistent flags); they are moved in
  front of the command before click sees them;
- every global flag also reads `PETCDCTL_<FLAG>` and then `ETCDCTL_<FLAG>` (e.g.
  PETCDCTL_ENDPOINTS, ETCDCTL_WRITE_OUT); ETCDCTL_API is accepted and ignored (always 3);
- an error is one line, `Error: <message>` on stderr, and etcdctl's exit code
  (ExitError 1, ExitBadConnection 2, ExitInvalidInput 3, ExitBadFeature 4, ExitInterrupted 5,
  ExitIO 6, ExitBadArgs 128); never a traceback. A command line click cannot parse is
  answered as cobra answers it (usage_error): pflag's words, the command's usage text
  (ctl/usage.py) after a flag error, a group's usage when no subcommand is given.
The client is made on first use, so argument errors never wait on a connection. With
`--user` it logs in right away, as clientv3 does when etcdctl makes its client: `name:password`,
or `name` with `--password` (then the whole of --user is the name), or `name` alone and a
prompt for the password. An empty password means no login at all, and so does a server
without auth ("authentication is not enabled" is ignored); any other failure to log in ends
the command with ExitBadConnection. Bool flags take pflag's `--flag=false` (CtlCommand).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import click

from petcd.client import Client, errors
from petcd.client.tls import TLSConfig
from . import arg_errors, display

EXIT_ERROR, EXIT_BAD_CONNECTION, EXIT_INVALID_INPUT, EXIT_BAD_FEATURE = 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_IO, EXIT_BAD_ARGS = 5, 6, 128


class CtlExit(Exception):
    """Ends the command with `code`, writing `Error: <message>` unless message is empty."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# name -> (takes a value, default)
GLOBAL_FLAGS = {
    "endpoints": (True, "127.0.0.1:2379"), "dial-timeout": (True, "2s"),
    "command-timeout": (True, "5s"), "keepalive-time": (True, "2s"),
    "keepalive-timeout": (True, "6s"), "write-out": (True, "simple"), "user": (True, ""),
    "password": (True, ""), "cacert": (True, ""), "cert": (True, ""), "key": (True, ""),
    "discovery-srv": (True, ""), "discovery-srv-name": (True, ""), "hex": (False, False),
    "debug": (False, False), "insecure-transport": (False, True),
    "insecure-skip-tls-verify": (False, False), "insecure-discovery": (False, True),
}
SHORT = {"-w": "--write-out", "-d": "--discovery-srv"}


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Move global flags (and their values) in front of the command, keeping the order of
    everything else; `--` ends flag processing, as in cobra."""
    front, rest = [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest.extend(argv[i:])
            break
        name, eq, _ = a.partition("=")
        name = SHORT.get(name, name)
        flag = GLOBAL_FLAGS.get(name[2:]) if name.startswith("--") else None
        if flag is not None:
            takes_value = flag[0]
            front.append(name + (a[len(a.partition("=")[0]):] if eq else ""))
            if takes_value and not eq and i + 1 < len(argv):
                front.append(argv[i + 1])
                i += 1
        else:
            rest.append(a)
        i += 1
    return front + rest


def parse_duration_s(text: str) -> float:
    """A Go duration ("2s", "500ms", "1m30s") in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    s, total, num = text.strip(), 0.0, ""
    i = 0
    if not s:
        raise ValueError("empty duration")
    while i < len(s):
        if s[i].isdigit() or s[i] == ".":
            num += s[i]
            i += 1
            continue
        for u in ("ns", "us", "µs", "ms", "s", "m", "h"):
            if s.startswith(u, i) and num:
                total += float(num) * units[u]
                num, i = "", i + len(u)
                break
        else:
            raise ValueError(f"time: invalid duration {text!r}")
    if num:
        if total == 0 and float(num) == 0:
            return 0.0
        raise ValueError(f"time: missing unit in duration {text!r}")
    return total


class Ctx:
    def __init__(self, opts: dict) -> None:
        self.opts = opts
        self.write_out = opts["write_out"]
        if self.write_out not in display.FORMATS:
            raise CtlExit(EXIT_BAD_FEATURE, f"unknown output format {self.write_out!r}")
        self.hex = opts["hex"]
        try:
            self.dial_timeout_s = parse_duration_s(opts["dial_timeout"])
            self.command_timeout_s = parse_duration_s(opts["command_timeout"])
        except ValueError as e:
            raise CtlExit(EXIT_BAD_ARGS, str(e)) from None
        self.endpoints = [e for e in opts["endpoints"].split(",") if e]
        self._client: Client | None = None
        self._auth: tuple[str, str] | None = None  # (user, password), once asked

    def client(self, endpoints: list[str] | None = None) -> Client:
        """The client (a new one for `endpoints`), logged in if --user says so; a failed
        login ends the command with ExitBadConnection, as etcdctl's mustClient."""
        if endpoints is None and self._client is not None:
            return self._client
        try:
            c = self.connect(endpoints or self.endpoints)
        except errors.ClientError as e:
            raise CtlExit(EXIT_BAD_CONNECTION, error_text(e)) from None
        if endpoints is None:
            self._client = c
        return c

    def credentials(self) -> tuple[str, str]:
        """(user, password) from --user and --password, prompting for the password when
        --user has none; ("", "") without --user. Asked once per command."""
        if self._auth is None:
            user, password = self.opts["user"], self.opts["password"]
            if not user:
                self._auth = ("", "")
            elif password:
                self._auth = (user, password)
            elif ":" in user:
                name, _, password = user.partition(":")
                self._auth = (name, password)
            else:
                try:
                    self._auth = (user, ask_password("Password: "))
                except OSError as e:
                    raise CtlExit(EXIT_ERROR, f"failed during password entry: {e}") from None
        return self._auth

    def connect(self, endpoints: list[str]) -> Client:
        """A new client for `endpoints`, logged in if --user says so; the login's error is
        raised (endpoint health reports it as the endpoint's health)."""
        user, password = self.credentials()
        endpoints, tls = self.tls(endpoints)
        plain = dict(timeout_s=self.command_timeout_s, dial_timeout_s=self.dial_timeout_s,
                     tls=tls)
        if not (user and password):  # clientv3 logs in only with both
            return Client(endpoints, **plain)
        c = Client(endpoints, user=user, password=password, **plain)
        try:
            c._login(self.dial_timeout_s)  # the login is part of making etcdctl's client
        except errors.ClientError as e:
            c.close()
            if e.message != AUTH_NOT_ENABLED:
                raise
            # clientv3 goes on without a token; a client without a user never asks for one
            return Client(endpoints, **plain)
        return c

    def tls(self, endpoints: list[str]) -> tuple[list[str], TLSConfig | None]:
        """(endpoints, TLS settings) as etcdctl's flags make them: --cacert, --cert or --key,
        or --insecure-transport=false, make a TLS client, which dials endpoints without a
        scheme over TLS too; --insecure-skip-tls-verify then trusts any server (it makes a
        TLS client by itself too, where etcdctl 3.4 also wants --insecure-transport=false)."""
        o = self.opts
        if not (o["cacert"] or o["cert"] or o["key"] or not o["insecure_transport"]
                or o["insecure_skip_tls_verify"]):
            return endpoints, None
        tls = TLSConfig(cacert=o["cacert"], cert=o["cert"], key=o["key"],
                        insecure_skip_verify=o["insecure_skip_tls_verify"])
        return [e if "://" in e else "https://" + e for e in endpoints], tls

    def need_format(self, *allowed: str) -> None:
        if self.write_out not in allowed:
            raise CtlExit(EXIT_BAD_FEATURE, f"{self.write_out} not supported as output format")


AUTH_NOT_ENABLED = "etcdserver: authentication is not enabled"


def error_text(e: errors.ClientError) -> str:
    """A refused call in clientv3's words: etcd's own errors by their text, as rpctypes
    knows them; the auth package's texts (`auth: permission denied` from the Maintenance
    calls that need root), which etcd 3.4 sends as status Unknown and rpctypes does not
    know, as grpc-go prints such a status."""
    if e.code == errors.Unknown.code and e.message.startswith("auth: "):
        return f"rpc error: code = Unknown desc = {e.message}"
    return e.message


def out(s: str) -> None:
    sys.stdout.write(s)
    sys.stdout.flush()


def stdin_byte() -> bytes:
    """The next byte of stdin, b"" at its end; unbuffered, so that nothing after what a
    reader wants is taken from the next one (a prompt, a command run after petcdctl)."""
    return os.read(0, 1)


def read_stdin_line(read_byte=stdin_byte) -> str:
    """One line of stdin without its newline; "" at end of input."""
    got = bytearray()
    while True:
        b = read_byte()
        if not b or b == b"\n":
            return got.decode("utf-8", "surrogateescape")
        got += b


def ask_password(prompt: str) -> str:
    """A password as etcdctl asks for one (speakeasy): the prompt on stdout, one line read
    from stdin with the terminal's echo off, a newline after; surrounding white space is
    dropped."""
    out(prompt)
    saved = None
    if os.isatty(0):
        import termios
        saved = termios.tcgetattr(0)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(0, termios.TCSAFLUSH, quiet)
    try:
        line = read_stdin_line()
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSAFLUSH, saved)
        out("\n")
    return line.removesuffix("\r").strip()


def run_command(argv: list[str], env: dict | None = None) -> str:
    """Run a command with petcdctl's stdin, stdout and stderr, as Go's exec.Cmd.Run does for
    etcdctl; "" if it succeeded, else Go's error text (`exit status 3`, ...)."""
    try:
        rc = subprocess.run(argv, env=env, check=False).returncode
    except OSError as e:
        if "/" not in argv[0] and isinstance(e, FileNotFoundError):
            return f"exec: {display.go_quote(argv[0])}: executable file not found in $PATH"
        return f"fork/exec {argv[0]}: {(e.strerror or str(e)).lower()}"
    if rc < 0:
        return f"signal: {(signal.strsignal(-rc) or str(-rc)).lower()}"
    return f"exit status {rc}" if rc else ""


def global_options(f):
    for name, (takes_value, default) in reversed(list(GLOBAL_FLAGS.items())):
        env = [f"PETCDCTL_{name.upper().replace('-', '_')}",
               f"ETCDCTL_{name.upper().replace('-', '_')}"]
        decls = [f"--{name}"] + (["-w"] if name == "write-out" else []) + \
            (["-d"] if name == "discovery-srv" else [])
        if takes_value:
            f = click.option(*decls, default=default, envvar=env, show_default=True)(f)
        else:
            f = click.option(*decls, is_flag=True, default=default, envvar=env)(f)
    return f


def usage_of(path: list[str]) -> str:
    from .cmd_cluster import VERSION
    from .usage import usage_text
    return usage_text(ctl, path, VERSION)


class CtlCommand(click.Command):
    """A command whose --help is etcdctl's usage text rather than click's, and whose bool
    flags also take a value, as pflag's do (`--interactive=false`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args, settled = arg_errors.pflag_bools(self.get_params(ctx), args)
        rest = super().parse_args(ctx, args)
        ctx.params.update(settled)
        return rest

    def get_help(self, ctx: click.Context) -> str:
        return usage_of(ctx.command_path.split()[1:]).removesuffix("\n")  # echo adds it


class CtlGroup(click.Group):
    command_class = CtlCommand
    group_class = type  # subgroups are CtlGroups too

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # the global bool flags take pflag's values too (--insecure-transport=false)
        if ctx.parent is None:
            args, settled = arg_errors.pflag_bools(self.get_params(ctx), args)
        else:
            settled = {}
        rest = super().parse_args(ctx, args)
        ctx.params.update(settled)
        return rest

    def get_help(self, ctx: click.Context) -> str:
        return usage_of(ctx.command_path.split()[1:]).removesuffix("\n")


@click.group(cls=CtlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@global_options
@click.pass_context
def ctl(ctx: click.Context, **opts) -> None:
    """A simple command line client for petcd (etcdctl 3.4's commands)."""
    ctx.obj = Ctx(opts)


def _load_commands() -> None:
    from . import (cmd_auth, cmd_check, cmd_cluster, cmd_concurrency, cmd_kv,  # noqa: F401
                   cmd_lease, cmd_snapshot, cmd_watch)


# The command line as given, before hoist_global_flags: etcdctl's watch reads os.Args.
RAW_ARGS: list[str] = []


def run(argv: list[str]) -> int:
    _load_commands()
    RAW_ARGS[:] = argv
    if argv and argv[-1] in VALUED_FLAGS:  # a global flag missing its value, e.g. `get -w`
        return flag_usage_error(arg_errors.missing_argument(argv[-1]), argv)
    argv = hoist_global_flags(argv)
    try:
        ctl.main(argv, prog_name="petcdctl", standalone_mode=False)
        return 0
    except CtlExit as e:
        if e.message:
            sys.stderr.write(f"Error: {e.message}\n")
        return e.code
    except errors.ClientError as e:
        sys.stderr.write(f"Error: {error_text(e)}\n")
        return EXIT_ERROR
    except click.exceptions.UsageError as e:
        return usage_error(e, argv)
    except click.exceptions.Abort:
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_IO
    except OSError as e:
        sys.stderr.write(f"Error: {e}\n")
        return EXIT_IO


VALUED_FLAGS = {f"--{n}" for n, (takes, _) in GLOBAL_FLAGS.items() if takes} | set(SHORT)


def usage_error(e: click.exceptions.UsageError, argv: list[str]) -> int:
    """What etcdctl does on a bad command line: a flag error prints the command's usage on
    stdout between two copies of the error (cobra's, then etcdctl's); a group run without
    a subcommand (or with an unknown one) prints its usage and succeeds; an unknown command
    gets cobra's message and suggestions."""
    flag_msg = arg_errors.flag_error(e)
    if flag_msg is not None:
        return flag_usage_error(flag_msg, argv)
    group_path = e.ctx.command_path.split()[1:] if e.ctx is not None else []
    if isinstance(e, click.exceptions.NoArgsIsHelpError):
        out(usage_of(group_path))
        return 0
    msg = e.format_message()
    if msg.startswith("No such command"):
        if group_path:  # cobra runs a group's help for any argument it does not know
            out(usage_of(group_path))
            return 0
        m = arg_errors.unknown_command(msg.split("'")[1], "petcdctl", ctl.commands)
        sys.stderr.write(f"Error: {m}\nRun 'petcdctl --help' for usage.\nError: {m}\n")
        return EXIT_ERROR
    sys.stderr.write(f"Error: {msg}\n")
    return EXIT_ERROR


def flag_usage_error(msg: str, argv: list[str]) -> int:
    sys.stderr.write(f"Error: {msg}\n")
    out(usage_of(arg_errors.command_path(ctl, argv, VALUED_FLAGS)))
    sys.stderr.write(f"\nError: {msg}\n")
    return EXIT_ERROR


def entry() -> None:
    os.environ.pop("PETCDCTL_API", None)
    sys.exit(run(sys.argv[1:]))
