"""CURVE on the native ZeroMQ listener (--zmq-curve-secret-key-file,
--zmq-curve-authorized-keys-dir).

Theory of operation. ZeroMQ's CURVE encrypts a connection and authenticates both ends by
their long-term keys. The listener's sockets are CURVE servers with this member's key pair; a
ZAP authenticator (pyzmq's, on a thread) accepts a client only if its public key is one of the
certificates in the authorized directory, read when the member starts. The listener gets a
ZeroMQ context of its own, so that the authenticator never sees the member's internal pipes.
A client that does not speak CURVE, or whose key is not authorized, never gets a frame through.

Must never: bind the listener in the clear when a secret key file is given.
"""
from __future__ import annotations

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator


def listener(secret_key_file: str, authorized_dir: str):
    """(context, (public, secret), authenticator) for the CURVE listener."""
    public, secret = zmq.auth.load_certificate(secret_key_file)
    if secret is None:
        raise ValueError(f"{secret_key_file}: no secret key (want a .key_secret file)")
    ctx = zmq.Context()
    zap = ThreadAuthenticator(ctx)
    zap.start()
    zap.configure_curve(domain="*", location=authorized_dir)
    return ctx, (public, secret), zap
