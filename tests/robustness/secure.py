"""Secure mode of a robustness run (RunConfig(secure=True)): TLS on the client URLs, auth on,
and the tokens the harness's clients hold.

Theory of operation: each run makes a throwaway CA (tests/integration/tls_certs.py), one
server certificate every member serves (they all listen on 127.0.0.1) and one client
certificate the harness presents: the members get --cert-file, --key-file and
--trusted-ca-file, and etcd asks every client for a certificate as soon as it has a trusted
CA. Not --client-cert-auth: with it and auth on, etcd's gateway refuses (HTTP 400) every
request whose certificate has a Common Name, and a certificate's name is no user here anyway:
every request carries a token.

After the cluster starts, enable_auth() makes, through the leader and before any traffic,
two users: root (the root role) for the harness's own calls (membership changes, compaction,
HashKV, status) and `robustness`, whose role may read and write every key, for the client
traffic, the watchers and the last write and reads of a run, so that every one of those
passes the permission check of a user who is not root. Then auth is enabled.

A Login is one user's token, shared by every thread that acts as that user (one login per
user, not one per thread: each costs a bcrypt on a member, and the run must keep its rate).
A request refused for its token (invalid: its member restarted, or it expired) or for a stale
auth revision is sent again after a new login, once per refusal, as clientv3 does. This is
safe for the history: both refusals come before anything is applied (a token is checked
before a write is proposed, the revision when it applies, and a refused write is never
applied), so the retried request is the one whose outcome the op records. If the new login
fails, the op keeps the refusal as its answer; the checker takes such an error as an unknown
outcome, which is never wrong.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from pathlib import Path

from petcd.bench.servers import Member, start_cluster
from tests.conformance.watch_client import WatchConn
from tests.integration.tls_certs import CA

ROOT, ROOT_PASSWORD = "root", "root-secret"
CLIENT, CLIENT_PASSWORD = "robustness", "robustness-secret"
CLIENT_ROLE = "readwrite-all"
# The answers after which clientv3 logs in again and resends, then the same two in the auth
# package's own words, as the root-only Maintenance calls (HashKV) give them: clientv3 does
# not know those, but the harness's HashKV is a read, so sending it again is harmless.
RELOGIN_MESSAGES = ("etcdserver: invalid auth token", "etcdserver: revision of auth store is old",
                    "auth: invalid auth token", "auth: revision in header is old")
RELOGINS = 2          # per request: a third refusal in a row is an answer, not a stale token
READY_POLL_S = 0.1


def refused(status: int | None, doc: dict | None) -> bool:
    """Did the member refuse the request for its token or auth revision?"""
    if status is None or status == 200:
        return False
    doc = doc or {}
    return (doc.get("message") or doc.get("error")) in RELOGIN_MESSAGES


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    return host, int(port)


class LoginError(OSError):
    """No token: the member did not answer Authenticate with one (no leader, timed out)."""


class Login:
    """One user's token, shared by the threads that act as that user."""

    def __init__(self, security: Security, name: str, password: str) -> None:
        self.security, self.name, self.password = security, name, password
        self._token: str | None = None
        self._lock = threading.Lock()
        self.logins = 0

    def token(self, url: str, timeout_s: float) -> str:
        """The current token, logging in through `url` if there is none yet."""
        token = self._token
        return token if token is not None else self.renew(None, url, timeout_s)

    def renew(self, stale: str | None, url: str, timeout_s: float) -> str:
        """A token other than `stale`: a new login through `url`, unless another thread
        already replaced it. Raises OSError (LoginError) when the login fails."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            host, port = _host_port(url)
            status, doc = self.security.post_once(
                host, port, "/v3/auth/authenticate",
                {"name": self.name, "password": self.password}, timeout_s, None)
            if status != 200 or not doc.get("token"):
                raise LoginError(f"login of {self.name} on {url}: HTTP {status} {doc}")
            self._token = doc["token"]
            self.logins += 1
            return self._token


class Security:
    """The CA, the certificates and the logins of one secure run."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = CA(directory)
        self.server_cert, self.server_key = self.ca.issue("member", "robustness member",
                                                          server=True)
        self.client_cert, self.client_key = self.ca.issue("client", "robustness harness",
                                                          server=False)
        self.context = ssl.create_default_context(cafile=self.ca.path)
        self.context.load_cert_chain(self.client_cert, self.client_key)
        self.root = Login(self, ROOT, ROOT_PASSWORD)
        self.client = Login(self, CLIENT, CLIENT_PASSWORD)
        self.enabled = False   # auth is on (enable_auth): requests carry tokens from then on

    def member_args(self) -> tuple[str, ...]:
        return ("--cert-file", self.server_cert, "--key-file", self.server_key,
                "--trusted-ca-file", self.ca.path)

    def etcdctl_args(self) -> list[str]:
        """etcdctl's flags for a root call."""
        return [f"--cacert={self.ca.path}", f"--cert={self.client_cert}",
                f"--key={self.client_key}", f"--user={ROOT}:{ROOT_PASSWORD}"]

    # -- requests -------------------------------------------------------------------------------
    def connection(self, host: str, port: int, timeout_s: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(host, port, timeout=timeout_s, context=self.context)

    def post_once(self, host: str, port: int, path: str, body: dict, timeout_s: float,
                  token: str | None) -> tuple[int, dict]:
        conn = self.connection(host, port, timeout_s)
        try:
            headers = {"Content-Type": "application/json"}
            if token is not None:
                headers["Authorization"] = token
            conn.request("POST", path, json.dumps(body).encode(), headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else {}
        finally:
            conn.close()

    def post(self, port: int, path: str, body: dict, timeout_s: float,
             login: Login | None) -> tuple[int, dict]:
        """One gateway call as `login`'s user (None, or auth not on yet: no token), sent
        again after a new login when its token is refused. Raises OSError when it could not
        be sent or answered."""
        url = f"https://127.0.0.1:{port}"
        if not self.enabled:
            login = None
        token = login.token(url, timeout_s) if login is not None else None
        for attempt in range(RELOGINS + 1):
            status, doc = self.post_once("127.0.0.1", port, path, body, timeout_s, token)
            if login is None or not refused(status, doc) or attempt == RELOGINS:
                return status, doc
            try:
                token = login.renew(token, url, timeout_s)
            except (OSError, http.client.HTTPException, ValueError):
                return status, doc   # the refusal stands: nothing was applied
        raise AssertionError("unreachable")

    def watch_conn(self, port: int, token: str, timeout_s: float) -> TLSWatchConn:
        return TLSWatchConn(port, self.context, {"Authorization": token}, timeout_s)

    # -- auth -----------------------------------------------------------------------------------
    def enable_auth(self, leader: Member) -> None:
        """Users, roles and auth enable, through the leader, before any traffic."""
        calls = [
            ("/v3/auth/user/add", {"name": ROOT, "password": ROOT_PASSWORD}),
            ("/v3/auth/role/add", {"name": "root"}),
            ("/v3/auth/user/grant", {"user": ROOT, "role": "root"}),
            ("/v3/auth/user/add", {"name": CLIENT, "password": CLIENT_PASSWORD}),
            ("/v3/auth/role/add", {"name": CLIENT_ROLE}),
            # Every key: key "\0" with range_end "\0" is etcd's "from the first key on".
            ("/v3/auth/role/grant", {"name": CLIENT_ROLE, "perm": {
                "permType": "READWRITE", "key": "AA==", "range_end": "AA=="}}),
            ("/v3/auth/user/grant", {"user": CLIENT, "role": CLIENT_ROLE}),
            ("/v3/auth/enable", {}),
        ]
        for path, body in calls:
            status, doc = self.post(leader.client_port, path, body, 20.0, None)
            if status != 200:
                raise RuntimeError(f"{path} on {leader.name}: HTTP {status} {doc}")
        self.enabled = True


class SecureMember(Member):
    """A bench Member on an https:// client URL, whose readiness check speaks TLS (and, once
    auth is on, logs in: a restarted member has forgotten every token)."""

    def __init__(self, security: Security, kind: str, name: str, workdir: str,
                 extra_args: tuple[str, ...] = ()) -> None:
        super().__init__(kind, name, workdir, extra_args=(*extra_args, *security.member_args()))
        self.security = security
        self.url = f"https://127.0.0.1:{self.client_port}"

    def ready(self) -> bool:
        """A linearizable range answers 200 (which needs a leader)."""
        try:
            status, _ = self.security.post(self.client_port, "/v3/kv/range", {"key": "YQ=="},
                                           2.0, self.security.client)
        except (OSError, http.client.HTTPException, ValueError):
            return False
        return status == 200

    def wait_ready(self, timeout_s: float = 60.0) -> Member:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} {self.name} exited with {self.proc.returncode}:"
                                   f" {Path(self.log_path).read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.url} did not become ready in {timeout_s:.0f} s")
            time.sleep(READY_POLL_S)
        self._stage_pids = self.stage_pids()
        return self


def start_secure_cluster(security: Security, kind: str, size: int, workdir: str,
                         extra_args: tuple[str, ...], prepare) -> list[Member]:
    """bench's start_cluster, with SecureMembers: the same names, flags and prepare hook."""
    return start_cluster(kind, size, workdir, extra_args=extra_args, prepare=prepare,
                         make_member=lambda n: SecureMember(security, kind, n, workdir,
                                                            extra_args))


class TLSWatchConn(WatchConn):
    """tests/conformance's WatchConn over TLS: the same conversation, on a socket wrapped in
    the run's client context (WatchConn opens its plain socket in __init__, so this opens its
    own and sends the same request head)."""

    def __init__(self, port: int, context: ssl.SSLContext, headers: dict,
                 timeout_s: float) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        try:
            self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise
        self.rfile = self.sock.makefile("rb")
        lines = ["POST /v3/watch HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Content-Type: application/json", "Transfer-Encoding: chunked",
                 "Expect: 100-continue", *(f"{k}: {v}" for k, v in headers.items())]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.status = None
        self.headers = {}
        self.chunked = False
        self._pending = b""
        self._body_open = True
