"""CURVE on the native ZeroMQ listener: authorized clients are served (calls and watch
streams), a client with unknown keys or without CURVE gets nothing through."""
import pytest
import zmq.auth

from petcd.client import Client, errors
from petcd.client.curve import CurveConfig

pytestmark = pytest.mark.integration


def test_only_authorized_curve_clients_get_through(start_member, tmp_path):
    keys, authorized, rogue_dir = tmp_path / "keys", tmp_path / "authorized", tmp_path / "rogue"
    for d in (keys, authorized, rogue_dir):
        d.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(str(keys), "server")
    client_public, client_secret = zmq.auth.create_certificates(str(keys), "client")
    _, rogue_secret = zmq.auth.create_certificates(str(rogue_dir), "rogue")
    (authorized / "client.key").write_bytes(open(client_public, "rb").read())
    m = start_member(extra_args=("--zmq-curve-secret-key-file", server_secret,
                                 "--zmq-curve-authorized-keys-dir", str(authorized)))
    endpoint = f"tcp://127.0.0.1:{m.zmq_port}"
    with Client(endpoint, curve=CurveConfig(server_public, client_secret)) as c:
        rev = c.put("k", "v").header.revision
        assert c.get_value("k") == b"v"
        w = c.watch("k", start_revision=rev)
        assert next(w).events[0].kv.value == b"v"
        w.cancel()
    for curve in (CurveConfig(server_public, rogue_secret), None):
        with Client(endpoint, curve=curve, timeout_s=1.5, dial_timeout_s=0.5) as c:
            with pytest.raises((errors.Unavailable, errors.DeadlineExceeded)):
                c.get("k")
    with Client(m.url) as c:  # the HTTP gateway is not CURVE's business
        assert c.get_value("k") == b"v"
