"""A member's configuration: every knob, its default, and where a value may come from.

Theory of operation: one table (`KNOBS`) lists each setting once, with etcd's flag name where
etcd has one, its type, default and help. Values are layered: defaults < the TOML file named by
--config < `PETCD_<FLAG>` environment variables < command-line flags (DESIGN.md 1). The result
is a frozen `MemberConfig` that every stage receives. Parsing errors are `ConfigError`s with one
clear line, never tracebacks.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping


class ConfigError(ValueError):
    """A bad setting: the message is one line meant for the user."""


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {v!r}")


def _urls(v: Any) -> tuple[str, ...]:
    if isinstance(v, (list, tuple)):
        items = [str(x) for x in v]
    else:
        items = [x for x in str(v).split(",")]
    return tuple(x.strip() for x in items if x.strip())


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def go_duration_s(text: str) -> float:
    """Seconds in a Go duration (`2h`, `1m30s`, `500ms`)."""
    text = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r}")
    return total


def _duration_s(v: Any) -> float:
    """A Go duration, or a plain number of seconds."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    try:
        return float(str(v))
    except ValueError:
        return go_duration_s(str(v))


@dataclass(frozen=True, slots=True)
class Knob:
    name: str          # flag name, without the leading dashes (etcd's name where etcd has one)
    type: Any
    default: Any
    help: str


KNOBS: tuple[Knob, ...] = (
    # -- member (etcd's flags) --
    Knob("name", str, "default", "human-readable name of this member"),
    Knob("data-dir", str, "", "path to the data directory (default: ./<name>.petcd)"),
    Knob("listen-client-urls", _urls, ("http://127.0.0.1:2379",),
         "client listen URLs, serving gRPC and the HTTP gateway on each port"),
    Knob("listen-client-http-urls", _urls, (),
         "HTTP-only client listen URLs (etcd 3.5's flag); when set, --listen-client-urls "
         "serve gRPC only"),
    Knob("advertise-client-urls", _urls, ("http://127.0.0.1:2379",),
         "client URLs advertised to the cluster"),
    Knob("listen-client-zmq-urls", _urls, ("tcp://127.0.0.1:2378",),
         "ZeroMQ client listen URLs (petcd's native API)"),
    Knob("listen-peer-urls", _urls, ("tcp://127.0.0.1:2380",), "peer listen URLs"),
    Knob("initial-advertise-peer-urls", _urls, ("tcp://127.0.0.1:2380",),
         "peer URLs advertised to the cluster"),
    Knob("initial-cluster", str, "", "initial cluster: name=peer-url,... (default: this member)"),
    Knob("initial-cluster-state", str, "new", "'new' or 'existing'"),
    Knob("initial-cluster-token", str, "etcd-cluster", "initial cluster token"),
    Knob("heartbeat-interval", int, 100, "time (ms) of a heartbeat interval"),
    Knob("election-timeout", int, 1000, "time (ms) for an election to time out"),
    Knob("snapshot-count", int, 100_000, "committed entries between two raft snapshots"),
    Knob("quota-backend-bytes", int, 0, "backend size quota before NOSPACE (0 = 2 GiB)"),
    Knob("max-request-bytes", int, 1_572_864, "maximum client request size in bytes"),
    Knob("max-txn-ops", int, 128, "maximum operations in one txn request (it also bounds how "
         "deeply txns nest: every front end refuses deeper nesting while decoding)"),
    Knob("max-concurrent-streams", int, 1000,
         "gRPC streams (calls) in flight on one client connection (etcd's flag; etcd's default "
         "is unbounded, a client past it waits for a stream to end)"),
    Knob("max-request-header-bytes", int, 1 << 20,
         "bytes of request headers (HTTP/1.1 request line and headers, gRPC header list) a "
         "client may send; past it HTTP answers 431 as Go's server does"),
    Knob("max-watchers-per-stream", int, 10_000,
         "watchers one watch stream may hold (gRPC, HTTP and ZeroMQ); a create past it is "
         "canceled with etcd's 'too many requests'"),
    Knob("auto-compaction-mode", str, "periodic", "'periodic' or 'revision'"),
    Knob("auto-compaction-retention", str, "0",
         "auto compaction retention (hours, or a duration like 30m, or revisions); 0 = off"),
    Knob("log-level", str, "info", "debug, info, warn or error"),
    Knob("grpc-keepalive-min-time", _duration_s, 5.0,
         "minimum interval (a Go duration, or seconds) a client should wait before pinging "
         "the server; petcd never cuts a client off for pinging more often"),
    Knob("grpc-keepalive-interval", _duration_s, 7200.0,
         "frequency (a Go duration, or seconds) of the server's pings on an idle gRPC "
         "connection"),
    Knob("grpc-keepalive-timeout", _duration_s, 20.0,
         "time (a Go duration, or seconds) to wait for a ping's answer before closing the "
         "connection"),
    Knob("cert-file", str, "", "path to the client server TLS cert file (https:// client URLs)"),
    Knob("key-file", str, "", "path to the client server TLS key file"),
    Knob("trusted-ca-file", str, "", "path to the client server TLS trusted CA cert file"),
    Knob("client-cert-auth", _bool, False,
         "require a client certificate signed by --trusted-ca-file on https:// client URLs"),
    Knob("auto-tls", _bool, False,
         "client TLS with a certificate generated for this member (self-signed)"),
    Knob("zmq-curve-secret-key-file", str, "",
         "this member's CURVE certificate (a zmq.auth .key_secret file): the native ZeroMQ "
         "listener then takes only CURVE clients whose keys are authorized"),
    Knob("zmq-curve-authorized-keys-dir", str, "",
         "directory of the public certificates (.key files) of the clients the native "
         "ZeroMQ listener accepts with CURVE"),
    Knob("peer-curve-secret-key-file", str, "",
         "the cluster's CURVE certificate (a zmq.auth .key_secret file, the same on every "
         "member): peer links are then encrypted and only holders of the key may join"),
    Knob("auth-token", str, "simple",
         "auth token type: 'simple', or 'jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256,"
         "ttl=5m' (etcd's options)"),
    Knob("auth-token-ttl", int, 300,
         "seconds a simple token lives after its last use"),
    Knob("bcrypt-cost", int, 10,
         "bcrypt cost of hashed passwords (etcd 3.5's flag; 4 to 31)"),
    Knob("auth-max-concurrent-authenticate", int, 2,
         "password checks (bcrypt) run at once per api worker; more Authenticate calls wait "
         "their turn, so that guessing passwords cannot take every core"),
    Knob("strict-reconfig-check", _bool, True,
         "refuse membership changes that could lose the quorum of started members"),
    # -- per-stage tuning (petcd's own) --
    Knob("api-workers", int, 1, "number of api worker processes sharing the client listeners"),
    Knob("api-max-inflight-requests", int, 10_000, "client requests in flight per api worker"),
    Knob("api-proposal-window", int, 64,
         "client proposals an api worker keeps in flight to raft; past it writers wait, each "
         "client (connection) in turn, so one client's backlog does not delay the others"),
    Knob("request-timeout-ms", int, 0,
         "client request timeout (0 = etcd's 5 s + 2 x election timeout)"),
    Knob("watch-buffer-events", int, 10_000,
         "events buffered per watcher for a slow client before it catches up from the store "
         "instead (also the page size of catch-up reads)"),
    Knob("watch-progress-notify-interval-ms", int, 600_000,
         "interval of progress_notify responses (etcd's "
         "--experimental-watch-progress-notify-interval, 10 min; at least 100 ms)"),
    Knob("zmq-stream-window-bytes", int, 1 << 20,
         "response bytes a ZeroMQ watch stream may have sent and not had acknowledged (its "
         "credit; a client may ask for less)"),
    Knob("zmq-stream-keepalive-ms", int, 10_000,
         "a ZeroMQ watch stream that sends nothing (request, ack, ping) this long is closed "
         "and its watchers dropped"),
    Knob("zmq-max-streams-per-connection", int, 1024,
         "open ZeroMQ watch streams per client connection"),
    Knob("zmq-max-requests-per-connection", int, 256,
         "unary ZeroMQ calls in flight per client connection; past it a call is answered "
         "'etcdserver: too many requests' at once"),
    Knob("zmq-max-queued-bytes-per-connection", int, 64 << 20,
         "answer bytes the ZeroMQ listener holds for one client connection that does not read; "
         "past it the connection's queued answers are dropped and it is cut off"),
    Knob("raft-max-batch-entries", int, 4096, "proposals drained into one raft step"),
    Knob("raft-max-inflight-appends", int, 2,
         "batches of appends raft has in flight to wal; later ones wait and leave as one"),
    Knob("raft-max-size-per-msg-bytes", int, 1 << 20, "bytes of entries per append message"),
    Knob("raft-max-inflight-msgs", int, 256, "append messages in flight per follower"),
    Knob("raft-pre-vote", _bool, True, "use pre-vote (thesis 9.6)"),
    Knob("raft-check-quorum", _bool, True, "leader steps down without a quorum"),
    Knob("max-learners", int, 1, "learner members the cluster may have at once (etcd 3.4: 1)"),
    Knob("peer-health-interval-ms", int, 5_000,
         "a peer counts as connected once its link has been up this long (etcd's fixed 5 s); "
         "membership changes wait until the leader is connected to every voter"),
    Knob("peer-keepalive-timeout-ms", int, 5_000,
         "a peer link whose handshake does not finish, or that carries nothing (heartbeats "
         "included), this long is dropped and redialled (etcd's 5 s peer connection timeouts)"),
    Knob("peer-dial-overrides", str, "",
         "name=url,...: dial these peers at another address (a proxy, NAT) than they advertise"),
    Knob("snapshot-catch-up-entries", int, 5_000,
         "entries kept in the log after a raft snapshot, for slow followers"),
    Knob("snapshot-chunk-bytes", int, 1 << 20, "bytes per chunk when streaming a snapshot"),
    Knob("snapshot-stall-timeout-ms", int, 30_000,
         "a snapshot stream that makes no progress this long is abandoned and retried"),
    Knob("lease-revoke-rate", int, 1000, "expired leases revoked per second at most"),
    Knob("lease-checkpoint-interval-ms", int, 60_000,
         "how often the leader checkpoints remaining lease TTLs (0 = never)"),
    Knob("wal-segment-size-bytes", int, 64 << 20, "preallocated size of one WAL segment"),
    Knob("wal-fsync", _bool, True, "fdatasync the WAL before acknowledging (never off in prod)"),
    Knob("apply-max-batch-entries", int, 4096, "committed entries applied in one LMDB txn"),
    Knob("lmdb-map-size-bytes", int, 8 << 30, "LMDB map size (address space, not disk)"),
    Knob("pipe-hwm", int, 100_000, "ZeroMQ high-water mark of the inter-stage pipes"),
    Knob("debug-failpoints", _bool, False,
         "serve /debug/failpoints on the client HTTP listener, to arm failpoints at run time "
         "(fault-injection tests only)"),
)

_BY_NAME = {k.name: k for k in KNOBS}


def attr(name: str) -> str:
    return name.replace("-", "_")


@dataclass(frozen=True, slots=True)
class MemberConfig:
    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, item: str) -> Any:  # config.heartbeat_interval
        try:
            return object.__getattribute__(self, "values")[item]
        except KeyError:
            raise AttributeError(item) from None

    @property
    def quota_bytes(self) -> int:
        return self.values["quota_backend_bytes"] or 2 * 1024 ** 3

    @property
    def request_timeout_s(self) -> float:
        ms = self.values["request_timeout_ms"]
        return ms / 1000 if ms else 5.0 + 2 * self.values["election_timeout"] / 1000


def _convert(knob: Knob, raw: Any, source: str) -> Any:
    try:
        return knob.type(raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid value {raw!r} for --{knob.name} (from {source}): {e}") \
            from None


def load(flags: Mapping[str, Any], env: Mapping[str, str] | None = None,
         config_file: str | None = None) -> MemberConfig:
    """Layer defaults < file < PETCD_* env < flags; `flags` holds only flags the user gave."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {attr(k.name): k.default for k in KNOBS}
    if config_file:
        try:
            with open(config_file, "rb") as f:
                doc = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {config_file}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {config_file} is not valid TOML: {e}") from None
        for key, raw in doc.items():
            knob = _BY_NAME.get(key) or _BY_NAME.get(key.replace("_", "-"))
            if knob is None:
                raise ConfigError(f"unknown setting {key!r} in {config_file}")
            values[attr(knob.name)] = _convert(knob, raw, config_file)
    for knob in KNOBS:
        var = "PETCD_" + attr(knob.name).upper()
        if var in env:
            values[attr(knob.name)] = _convert(knob, env[var], var)
    for name, raw in flags.items():
        knob = _BY_NAME.get(name.replace("_", "-"))
        if knob is None:
            raise ConfigError(f"unknown flag --{name}")
        values[attr(knob.name)] = _convert(knob, raw, "the command line")
    if not values["data_dir"]:
        values["data_dir"] = f"{values['name']}.petcd"
    _validate(values)
    return MemberConfig(values)


def parse_retention(mode: str, text: str) -> float:
    """Seconds (periodic) or revisions (revision). Plain numbers are hours for periodic."""
    text = text.strip()
    if mode == "revision":
        return float(int(text))
    try:
        return float(text) * 3600.0
    except ValueError:
        pass
    try:
        return go_duration_s(text)
    except ValueError:
        raise ValueError(f"invalid --auto-compaction-retention {text!r}") from None


def _validate(v: dict[str, Any]) -> None:
    if v["heartbeat_interval"] <= 0:
        raise ConfigError("--heartbeat-interval must be greater than 0")
    if v["election_timeout"] < 5 * v["heartbeat_interval"]:
        raise ConfigError("--election-timeout should be at least 5 times --heartbeat-interval")
    if v["initial_cluster_state"] not in ("new", "existing"):
        raise ConfigError("--initial-cluster-state must be 'new' or 'existing'")
    if v["auto_compaction_mode"] not in ("periodic", "revision"):
        raise ConfigError("--auto-compaction-mode must be 'periodic' or 'revision'")
    tls = v["auto_tls"] or (v["cert_file"] and v["key_file"])
    https = [u for u in (*v["listen_client_urls"], *v["listen_client_http_urls"])
             if u.lower().startswith("https://")]
    if https and not tls:
        raise ConfigError(f"{https[0]}: https:// client URLs need --cert-file and --key-file, "
                          "or --auto-tls")
    if bool(v["cert_file"]) != bool(v["key_file"]):
        raise ConfigError("--cert-file and --key-file go together")
    if v["client_cert_auth"] and not v["trusted_ca_file"]:
        raise ConfigError("--client-cert-auth needs --trusted-ca-file")
    if bool(v["zmq_curve_secret_key_file"]) != bool(v["zmq_curve_authorized_keys_dir"]):
        raise ConfigError("--zmq-curve-secret-key-file and --zmq-curve-authorized-keys-dir "
                          "go together")
    if v["auth_token"].split(",", 1)[0] not in ("simple", "jwt"):
        raise ConfigError(f"--auth-token {v['auth_token']!r}: the token type is 'simple' or "
                          "'jwt,...'")
    if not 4 <= v["bcrypt_cost"] <= 31:
        raise ConfigError("--bcrypt-cost must be between 4 and 31")
    if v["auth_token_ttl"] <= 0 or v["auth_max_concurrent_authenticate"] <= 0:
        raise ConfigError("--auth-token-ttl and --auth-max-concurrent-authenticate must be "
                          "greater than 0")
    if v["max_txn_ops"] <= 0 or v["max_request_bytes"] <= 0:
        raise ConfigError("--max-txn-ops and --max-request-bytes must be greater than 0")
    try:
        parse_retention(v["auto_compaction_mode"], v["auto_compaction_retention"])
    except ValueError:
        raise ConfigError(f"invalid --auto-compaction-retention "
                          f"{v['auto_compaction_retention']!r} for mode "
                          f"{v['auto_compaction_mode']!r}") from None
    if min(v["grpc_keepalive_interval"], v["grpc_keepalive_timeout"]) <= 0:
        raise ConfigError("--grpc-keepalive-interval and --grpc-keepalive-timeout must be "
                          "greater than 0")
    if v["log_level"] not in ("debug", "info", "warn", "error"):
        raise ConfigError("--log-level must be one of debug, info, warn, error")
    if v["watch_progress_notify_interval_ms"] < 100:
        raise ConfigError("--watch-progress-notify-interval-ms must be at least 100")
    if v["max_learners"] < 0 or v["peer_health_interval_ms"] < 0:
        raise ConfigError("--max-learners and --peer-health-interval-ms must not be negative")
    if v["peer_keepalive_timeout_ms"] < 500:
        raise ConfigError("--peer-keepalive-timeout-ms must be at least 500")
    if v["zmq_stream_window_bytes"] < 4096 or v["zmq_stream_keepalive_ms"] < 100:
        raise ConfigError("--zmq-stream-window-bytes must be at least 4096 and "
                          "--zmq-stream-keepalive-ms at least 100")
    for name in ("api_workers", "zmq_max_streams_per_connection", "watch_buffer_events",
                 "raft_max_batch_entries", "apply_max_batch_entries", "max_concurrent_streams",
                 "max_request_header_bytes", "max_watchers_per_stream", "api_proposal_window",
                 "zmq_max_requests_per_connection", "zmq_max_queued_bytes_per_connection",
                 "snapshot_count", "pipe_hwm", "raft_max_inflight_msgs",
                 "raft_max_inflight_appends"):
        if v[name] <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be greater than 0")
