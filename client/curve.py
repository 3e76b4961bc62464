"""CURVE for the native ZeroMQ protocol: the keys a client connects with.

A member with `--zmq-curve-secret-key-file` accepts only CURVE connections from clients whose
public keys are in its `--zmq-curve-authorized-keys-dir` (docs/security.md). A client needs the
member's public key and a key pair of its own; both are ZeroMQ certificate files, as
`zmq.auth.create_certificates(directory, name)` writes them (`name.key` holds the public key
only and is what the member gets; `name.key_secret` holds both and stays with its owner).
"""
from __future__ import annotations

from dataclasses import dataclass

import zmq
import zmq.auth


@dataclass(frozen=True, slots=True)
class CurveConfig:
    server_key_file: str   # the member's public certificate (`server.key`)
    client_key_file: str   # this client's secret certificate (`client.key_secret`)

    def apply(self, sock: zmq.Socket) -> None:
        """Make `sock` (before it connects) a CURVE client."""
        server_public, _ = zmq.auth.load_certificate(self.server_key_file)
        public, secret = zmq.auth.load_certificate(self.client_key_file)
        if secret is None:
            raise ValueError(f"{self.client_key_file}: no secret key (want a .key_secret file)")
        sock.curve_serverkey = server_public
        sock.curve_publickey = public
        sock.curve_secretkey = secret
