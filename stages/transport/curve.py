"""Encrypted, authenticated peer links: ZeroMQ CURVE with the cluster's key.

Theory of operation. etcd secures peers with TLS certificates from a CA every member trusts.
ZeroMQ has CURVE instead, so petcd gives the cluster one CURVE key pair, the same file on every
member (--peer-curve-secret-key-file, a zmq.auth `.key_secret` certificate): holding the secret
key is what makes a process a member, as holding a certificate from the peers' CA does in etcd.
Every peer socket uses it: the listening ROUTER is a CURVE server with the cluster key, and a
ZAP authenticator (pyzmq's, on a thread) admits a client only if it presents the cluster's
public key, which it can only do with the secret one; every dialling socket (raft messages,
snapshot streams, a joining member's cluster question) is a CURVE client that expects the
server to hold the cluster key. So both ends are authenticated, and all peer traffic,
snapshots included, is encrypted. A process without the key cannot finish a handshake: it can
neither join, nor read, nor inject a frame (docs/security.md). The peer sockets then live on a
ZeroMQ context of their own, so the authenticator never sees the member's internal pipes.

Must never: bind or dial a peer socket in the clear when the cluster key is configured.
"""
from __future__ import annotations

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator


class PeerCurve:
    def __init__(self, secret_key_file: str) -> None:
        public, secret = zmq.auth.load_certificate(secret_key_file)
        if secret is None:
            raise ValueError(f"{secret_key_file}: no secret key (want a .key_secret file)")
        self.public, self.secret = public, secret

    def context(self) -> tuple[zmq.Context, ThreadAuthenticator]:
        """A context for the peer sockets, with the authenticator that admits members."""
        ctx = zmq.Context()
        zap = ThreadAuthenticator(ctx)
        zap.start()
        zap.configure_curve_callback("*", _ClusterKey(self.public))
        return ctx, zap

    def server(self, sock: zmq.Socket) -> None:
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = self.public, self.secret

    def client(self, sock: zmq.Socket) -> None:
        sock.curve_serverkey = self.public
        sock.curve_publickey, sock.curve_secretkey = self.public, self.secret


class _ClusterKey:
    """ZAP: a client is a member if it holds the cluster's key."""

    def __init__(self, public: bytes) -> None:
        self.public = public

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.public


def of(cfg) -> PeerCurve | None:
    return PeerCurve(cfg.peer_curve_secret_key_file) if cfg.peer_curve_secret_key_file else None
