"""TLS on the client port: the real etcdctl with --cacert/--cert/--key, the Python clients over
https:// and grpcs://, --client-cert-auth (and the certificate's Common Name as the user with
auth on), --auto-tls, and a client that opens a connection and never finishes its handshake."""
import asyncio
import os
import shutil
import socket
import subprocess
import sys

import pytest

from petcd.client import AsyncClient, Client, errors
from petcd.client.tls import TLSConfig

from .member import Member
from .tls_certs import CA

pytestmark = pytest.mark.integration

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")},
       "ETCDCTL_API": "3"}


class TlsMember(Member):
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"


@pytest.fixture
def pki(tmp_path):
    ca = CA(tmp_path)
    return {"ca": ca.path, "server": ca.issue("server", "petcd", server=True),
            "root": ca.issue("root", "root", server=False),
            "alice": ca.issue("alice", "alice", server=False)}


@pytest.fixture
def tls_member(tmp_path):
    started = []

    def start(extra_args=()) -> TlsMember:
        m = TlsMember(tmp_path, "tls", tuple(extra_args))
        started.append(m)
        return m.start()

    yield start
    for m in started:
        m.stop()


def _etcdctl(m, *args, certs=()):
    path = shutil.which("etcdctl") or "/usr/bin/etcdctl"
    if not os.access(path, os.X_OK):
        pytest.skip("etcdctl 3.4.23 (Debian's etcd-client) is not installed")
    return subprocess.run([path, "--endpoints", m.url, "--dial-timeout", "3s", *certs, *args],
                          capture_output=True, text=True, env=ENV, timeout=60)


def test_etcdctl_and_python_clients_over_tls_with_client_certificates(tls_member, pki):
    cert, key = pki["server"]
    m = tls_member(("--cert-file", cert, "--key-file", key, "--trusted-ca-file", pki["ca"],
                    "--client-cert-auth"))
    rc, rk = pki["root"]
    certs = ("--cacert", pki["ca"], "--cert", rc, "--key", rk)
    p = _etcdctl(m, "put", "foo", "bar", certs=certs)
    assert (p.returncode, p.stdout) == (0, "OK\n"), p.stderr
    p = _etcdctl(m, "get", "foo", certs=certs)
    assert (p.returncode, p.stdout) == (0, "foo\nbar\n"), p.stderr
    # no client certificate: the handshake fails, etcdctl cannot connect
    p = _etcdctl(m, "get", "foo", certs=("--cacert", pki["ca"]))
    assert p.returncode != 0
    tls = TLSConfig(cacert=pki["ca"], cert=rc, key=rk)
    with Client(m.url, tls=tls) as c:  # the HTTP gateway over TLS
        assert c.get_value("foo") == b"bar"
    with pytest.raises(errors.ClientError):
        with Client(m.url, tls=TLSConfig(cacert=pki["ca"])) as c:
            c.get("foo")

    async def over_grpc():
        async with AsyncClient(f"grpcs://127.0.0.1:{m.client_port}", tls=tls) as c:
            return (await c.get("foo")).kvs[0].value
    assert asyncio.run(over_grpc()) == b"bar"


def test_the_certificates_common_name_is_the_user_with_auth_on(tls_member, pki):
    cert, key = pki["server"]
    m = tls_member(("--cert-file", cert, "--key-file", key, "--trusted-ca-file", pki["ca"],
                    "--client-cert-auth"))
    root = ("--cacert", pki["ca"], "--cert", pki["root"][0], "--key", pki["root"][1])
    alice = ("--cacert", pki["ca"], "--cert", pki["alice"][0], "--key", pki["alice"][1])
    for args in (("user", "add", "root", "--new-user-password=rootpw"),
                 ("user", "add", "alice", "--new-user-password=apw"), ("role", "add", "r"),
                 ("role", "grant-permission", "r", "readwrite", "a/", "--prefix"),
                 ("user", "grant-role", "alice", "r"), ("auth", "enable")):
        p = _etcdctl(m, *args, certs=root)
        assert p.returncode == 0, (args, p.stderr)
    # no token: the certificate names the user
    assert _etcdctl(m, "put", "a/1", "x", certs=alice).returncode == 0
    p = _etcdctl(m, "put", "b", "x", certs=alice)
    assert "etcdserver: permission denied" in p.stderr
    assert _etcdctl(m, "put", "b", "x", certs=root).returncode == 0
    assert _etcdctl(m, "user", "list", certs=alice).returncode != 0
    assert _etcdctl(m, "user", "list", certs=root).stdout == "alice\nroot\n"


def test_auto_tls_and_a_handshake_that_never_finishes(tls_member):
    m = tls_member(("--auto-tls",))
    # etcdctl 3.4 needs --insecure-transport=false as well to skip verification, with etcd too
    silent = socket.create_connection(("127.0.0.1", m.client_port))  # never says a word
    try:
        p = _etcdctl(m, "put", "k", "v", certs=("--insecure-skip-tls-verify", "--insecure-transport=false"))
        assert (p.returncode, p.stdout) == (0, "OK\n"), p.stderr
        with Client(m.url, tls=TLSConfig(insecure_skip_verify=True)) as c:
            assert c.get_value("k") == b"v"
        p = subprocess.run([sys.executable, "-m", "petcd.ctl", "--endpoints",
                            f"127.0.0.1:{m.client_port}", "--insecure-transport=false",
                            "--insecure-skip-tls-verify", "get", "k"],
                           capture_output=True, text=True, timeout=60)
        assert (p.returncode, p.stdout) == (0, "k\nv\n"), p.stderr  # petcdctl, as etcdctl
        with pytest.raises(errors.ClientError):  # a self-signed certificate is not trusted
            with Client(m.url) as c:
                c.get("k")
    finally:
        silent.close()
