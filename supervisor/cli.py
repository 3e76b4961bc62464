"""`petcd`: start one member (etcd's flags, with etcd's meaning).

Every knob of common/config.py is a flag; values layer as defaults < --config FILE <
PETCD_<FLAG> environment variables < flags. Bad flags or an unusable data dir print one line
and exit 2. SIGTERM and SIGINT stop all five stage processes; a restart on the same data dir
resumes where the member stopped. A member removed from its cluster stops itself and exits
0, as etcd does.
"""
from __future__ import annotations

import signal
import ssl
import sys

import click
import zmq.auth

from petcd.stages.api import jwt_tokens, tls
from petcd.common.config import KNOBS, ConfigError, load
from . import join
from .datadir import DataDir
from .launcher import Launcher, StageError

READY_LINE = "ready to serve client requests"


def _options(fn):
    for knob in reversed(KNOBS):
        # A boolean flag alone means true, as Go's flags (--client-cert-auth, --auto-tls).
        alone = {"is_flag": False, "flag_value": "true"} if knob.default in (True, False) else {}
        fn = click.option(f"--{knob.name}", knob.name.replace("-", "_"), default=None,
                          metavar="VALUE", **alone,
                          help=f"{knob.help} [default: {_show(knob.default)}]")(fn)
    return fn


def _show(v) -> str:
    return ",".join(v) if isinstance(v, tuple) else str(v)


@click.command(context_settings={"help_option_names": ["-h", "--help"],
                                 "max_content_width": 100})
@click.option("--config", "config_file", default=None, metavar="FILE",
              help="TOML file whose keys are the flag names")
@_options
def main(config_file: str | None, **flags) -> None:
    """Start a petcd member: etcd's v3 API over HTTP and ZeroMQ, replicated with Raft."""
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        config = load(given, config_file=config_file)
        data_dir = DataDir(config.data_dir)
        data_dir.prepare()
        config_path = data_dir.write_config(config)
        # Loaded once here, so that a bad certificate stops the start with one line, and
        # --auto-tls's certificate exists before the api workers read it.
        try:
            tls.server_context(config)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"client TLS: {e}") from None
        for flag, path in (("--zmq-curve-secret-key-file", config.zmq_curve_secret_key_file),
                           ("--peer-curve-secret-key-file", config.peer_curve_secret_key_file)):
            try:
                if path and zmq.auth.load_certificate(path)[1] is None:
                    raise ValueError("no secret key in it (want a .key_secret file)")
            except (OSError, ValueError) as e:
                raise ConfigError(f"{flag}: {e}") from None
        try:
            options = jwt_tokens.parse_options(config.auth_token)
            if options is not None:
                jwt_tokens.JwtTokens(options)
        except jwt_tokens.JwtError as e:
            raise ConfigError(str(e)) from None
    except ConfigError as e:
        click.echo(f"petcd: error: {e}", err=True)
        sys.exit(2)
    try:
        join.resolve(config)
    except (join.JoinError, ValueError) as e:
        click.echo(f"petcd: error: {e}", err=True)
        sys.exit(1)

    stopping = False

    def on_signal(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    launcher = Launcher(data_dir.path, config_path)
    code = 0
    try:
        launcher.start_all(config.api_workers)
        click.echo(f"{READY_LINE} on {', '.join(config.listen_client_urls)} "
                   f"(zmq {', '.join(config.listen_client_zmq_urls)})", err=True)
        failed = launcher.watch(lambda: stopping)
        if launcher.removed:
            _say_removed()
        elif failed is not None:
            click.echo(f"petcd: stage {failed} stopped; stopping the member", err=True)
            code = 1
    except StageError as e:
        if launcher.removed:
            _say_removed()
        else:
            click.echo(f"petcd: error: {e}", err=True)
            code = 1
    finally:
        launcher.stop_all()
    sys.exit(code)


def _say_removed() -> None:
    # etcd's words; like etcd, exit 0: an orderly end, not a failure.
    click.echo("petcd: the member has been permanently removed from the cluster", err=True)
    click.echo("petcd: the data-dir used by this member must be removed.", err=True)


def entry() -> None:
    """The `petcd` command: a member, or `petcd cluster ...` for a local dev cluster."""
    if len(sys.argv) > 1 and sys.argv[1] == "cluster":
        from .devcluster import cluster
        cluster.main(args=sys.argv[2:], prog_name="petcd cluster")
    else:
        main()
