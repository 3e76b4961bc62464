"""TLS for the client URLs: etcd's --cert-file, --key-file, --trusted-ca-file,
--client-cert-auth and --auto-tls.

Theory of operation. An `https://` client URL is served through one server-side SSLContext;
an `http://` one stays plain, as in etcd. The context offers ALPN `h2` and `http/1.1`, so that
gRPC (which needs h2) and the HTTP gateway share the port as they do in the clear: the bytes
that come out of the TLS layer are sniffed like plain ones (grpc/listener.py). With
--trusted-ca-file a client must present a certificate signed by it (as etcd 3.4 requires);
with --client-cert-auth and auth on, such a client that sends no token is the user named by
its certificate's Common Name (etcd's AuthInfoFromTLS). --auto-tls makes a
self-signed certificate for the member once, in `<data-dir>/fixtures/client/`, as etcd does;
clients then need to skip verification (`--insecure-skip-tls-verify`).

A handshake that never finishes is dropped by asyncio after its handshake timeout (60 s).

Must never: serve an https:// URL without TLS, or accept a client without a verified
certificate when --client-cert-auth is on.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl

ALPN = ["h2", "http/1.1"]
AUTO_TLS_VALIDITY_DAYS = 365


def server_context(cfg) -> ssl.SSLContext | None:
    """The context for the https:// client URLs, or None if TLS is not configured."""
    cert, key = cfg.cert_file, cfg.key_file
    if not cert and cfg.auto_tls:
        cert, key = self_signed(os.path.join(cfg.data_dir, "fixtures", "client"),
                                cfg.advertise_client_urls)
    if not cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # etcd's minimum
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(ALPN)
    if cfg.trusted_ca_file:
        # etcd 3.4 then requires a client certificate signed by it, --client-cert-auth or
        # not (the flag adds the Common Name as the user)
        ctx.load_verify_locations(cfg.trusted_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def common_name(peer_cert: dict | None) -> str:
    """The Common Name of a verified peer certificate (ssl's getpeercert() form), or ""."""
    for rdn in (peer_cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return value
    return ""


def self_signed(directory: str, hosts) -> tuple[str, str]:
    """(cert path, key path) of this member's self-signed certificate, made on first use for
    the hosts of its advertised client URLs (and localhost)."""
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from urllib.parse import urlsplit

    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for url in hosts:
        host = urlsplit(url).hostname
        if not host:
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "petcd")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=AUTO_TLS_VALIDITY_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # Written under temporary names and renamed: api workers starting together see a whole pair.
    tmp_key, tmp_cert = key_path + f".{os.getpid()}", cert_path + f".{os.getpid()}"
    with open(os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(tmp_cert, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_key, key_path)
    os.replace(tmp_cert, cert_path)
    return cert_path, key_path
