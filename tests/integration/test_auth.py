"""Auth on running members, beyond the recorded scenarios: the Python client on every path
(HTTP gateway, native ZeroMQ) with its automatic login, watch permissions, token expiry,
tokens across the members of a cluster, auth state across a restart, and a flood of wrong
passwords while others are served."""
import threading
import time

import pytest

from petcd.client import Client
from petcd.client import errors

pytestmark = pytest.mark.integration


def _setup(c: Client) -> None:
    """root with the root role, alice with read on [a, c) and readwrite on p/; auth on."""
    c.user_add("root", "rootpw")
    c.role_add("root")
    c.user_grant_role("root", "root")
    c.user_add("alice", "apw")
    c.role_add("r")
    c.role_grant_permission("r", "read", "a", "c")
    c.role_grant_permission("r", "readwrite", "p/", prefix=True)
    c.user_grant_role("alice", "r")
    c.auth_enable()


def _refused(fn, message: str) -> None:
    with pytest.raises(errors.ClientError) as info:
        fn()
    assert info.value.message == message


@pytest.mark.parametrize("scheme", ["http", "tcp"])
def test_client_logs_in_and_is_held_to_its_permissions(start_member, scheme):
    m = start_member(extra_args=("--auth-token-ttl", "1"))
    port = m.client_port if scheme == "http" else m.zmq_port
    endpoint = f"{scheme}://127.0.0.1:{port}"
    with Client(m.url) as c:
        _setup(c)
        _refused(lambda: c.get("a"), "etcdserver: user name is empty")
    with Client(endpoint, user="root", password="rootpw") as root, \
            Client(endpoint, user="alice", password="apw") as alice:
        root.put("a", "1")
        assert alice.get_value("a") == b"1"
        alice.put("p/x", "2")
        _refused(lambda: alice.put("a", "2"), "etcdserver: permission denied")
        _refused(lambda: alice.get("a", "d"), "etcdserver: permission denied")
        _refused(lambda: alice.user_list(), "etcdserver: permission denied")
        assert alice.user_get("alice").roles == ("r",)
        # the token dies a second after its last use (expiry is what is tested here); the
        # client logs in again by itself
        token = alice._token
        time.sleep(1.5)
        assert alice.get_value("a") == b"1"
        assert alice._token != token
        with Client(endpoint) as stale:
            stale._set_token(token)
            _refused(lambda: stale.get("a"), "etcdserver: invalid auth token")
        _refused(lambda: Client(endpoint, user="alice", password="no").get("a"),
                 "etcdserver: authentication failed, invalid user ID or password")


def test_watch_permissions_on_the_gateway_and_native_paths(start_member):
    m = start_member()
    with Client(m.url) as c:
        _setup(c)
    for endpoint in (m.url, f"tcp://127.0.0.1:{m.zmq_port}"):
        with Client(endpoint, user="alice", password="apw") as alice, \
                Client(endpoint, user="root", password="rootpw") as root:
            rev = root.put("b", "seen").header.revision
            w = alice.watch("a", "c", start_revision=rev)
            event = next(w)
            assert event.events[0].kv.value == b"seen"
            w.cancel()
            with pytest.raises(errors.WatchCanceled) as info:
                next(alice.watch("z"))
            assert info.value.message == ("rpc error: code = PermissionDenied desc = "
                                          "etcdserver: permission denied")


def test_tokens_work_on_every_member_and_changes_reach_them(start_cluster):
    members = start_cluster(3)
    with Client(members[0].url) as c:
        _setup(c)
    with Client(members[0].url, user="alice", password="apw") as alice:
        alice.get("a")
        token = alice._token
    with Client(members[2].url) as other:
        other._set_token(token)  # a token given out by member 0's Authenticate entry
        other.get("a")
        with Client(members[1].url, user="root", password="rootpw") as root:
            root.role_revoke_permission("r", "a", "c")
        # the next linearizable read on member 2 sees the revoke
        _refused(lambda: other.get("a"), "etcdserver: permission denied")


def test_auth_survives_a_restart_and_old_tokens_do_not(start_member):
    m = start_member()
    with Client(m.url) as c:
        _setup(c)
    with Client(m.url, user="alice", password="apw") as alice:
        alice.get("a")
        token = alice._token
    m.stop()
    m.start()
    with Client(m.url) as c:
        _refused(lambda: c.get("a"), "etcdserver: user name is empty")
        c._set_token(token)
        _refused(lambda: c.get("a"), "etcdserver: invalid auth token")
    with Client(m.url, user="alice", password="apw") as alice:
        assert alice.user_get("alice").roles == ("r",)


def test_a_flood_of_wrong_passwords_does_not_stop_the_member(start_member):
    m = start_member()
    with Client(m.url) as c:
        _setup(c)
    failures = []

    def guess(i: int) -> None:
        with Client(m.url) as g:
            try:
                g.authenticate("root", f"guess{i}")
            except errors.ClientError as e:
                failures.append(e.message)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    with Client(m.url, user="root", password="rootpw") as root:
        for i in range(20):  # served while the guesses wait their turn for bcrypt
            root.put("k", str(i))
    for t in threads:
        t.join()
    assert failures == ["etcdserver: authentication failed, invalid user ID or password"] * 24


def test_jwt_tokens(start_member, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = tmp_path / "jwt.key", tmp_path / "jwt.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    m = start_member(extra_args=(
        "--auth-token", f"jwt,pub-key={pub},priv-key={priv},sign-method=ES256,ttl=1m"))
    with Client(m.url) as c:
        _setup(c)
    with Client(m.url, user="alice", password="apw") as alice, \
            Client(m.url, user="root", password="rootpw") as root:
        assert alice.get_value("a") is None
        token = alice._token
        assert token.count(".") == 2  # a JWT, not a simple token
        root.role_grant_permission("r", "read", "q")  # a new auth revision: the token is old
        with Client(m.url) as stale:
            stale._set_token(token)
            _refused(lambda: stale.get("a"), "etcdserver: revision of auth store is old")
        assert alice.get_value("q") is None  # logged in again by itself
        assert alice._token != token
        with Client(m.url) as forged:
            forged._set_token(token[:-4] + "AAAA")
            _refused(lambda: forged.get("a"), "etcdserver: invalid auth token")
