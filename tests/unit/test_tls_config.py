"""Client TLS settings (stages/api/tls.py, common/config.py): what is refused at start, the
auto-TLS certificate, and the Common Name of a peer certificate."""
import ssl

import pytest

from petcd.common.config import ConfigError, load
from petcd.stages.api import tls


def cfg(tmp_path, **flags):
    return load({"data-dir": str(tmp_path / "d"), **flags}, env={})


def test_https_urls_need_a_certificate(tmp_path):
    with pytest.raises(ConfigError, match="need --cert-file"):
        cfg(tmp_path, **{"listen-client-urls": "https://127.0.0.1:2379"})
    with pytest.raises(ConfigError, match="go together"):
        cfg(tmp_path, **{"cert-file": "c.pem"})
    with pytest.raises(ConfigError, match="needs --trusted-ca-file"):
        cfg(tmp_path, **{"client-cert-auth": "true"})
    with pytest.raises(ConfigError, match="go together"):
        cfg(tmp_path, **{"zmq-curve-secret-key-file": "k"})
    assert tls.server_context(cfg(tmp_path)) is None  # plain by default


def test_auto_tls_makes_one_certificate_and_serves_h2_and_http1(tmp_path):
    c = cfg(tmp_path, **{"auto-tls": "true", "listen-client-urls": "https://127.0.0.1:2379",
                         "advertise-client-urls": "https://127.0.0.1:2379"})
    ctx = tls.server_context(c)
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_NONE
    cert = tmp_path / "d" / "fixtures" / "client" / "cert.pem"
    first = cert.read_bytes()
    tls.server_context(c)
    assert cert.read_bytes() == first  # made once, kept across restarts
    client = ssl.create_default_context(cafile=str(cert))  # trusts itself for 127.0.0.1
    assert client.load_verify_locations(cafile=str(cert)) is None


def test_common_name_of_a_peer_certificate():
    peer = {"subject": ((("organizationName", "acme"),), (("commonName", "alice"),))}
    assert tls.common_name(peer) == "alice"
    assert tls.common_name({"subject": ()}) == "" and tls.common_name(None) == ""
