"""Unary gRPC methods: decode the protobuf request, call the service layer, encode the answer.

Theory of operation. Each unary RPC is one line of a table: its gRPC path, the service layer's
request dataclass, and the coroutine that answers it. `handler()` turns such a line into a
grpclib handler: it reads the one request message, converts it (convert.py), applies the checks
etcd's interceptors make before any RPC (the `hasleader` metadata, a learner's refusals), awaits
the service and writes the converted response. An EtcdError becomes the gRPC status with etcd's
code and message, which is what clientv3 matches errors by; any other exception is logged and
answered as Unknown, never a traceback to the client.

Must never: answer a request it could not decode as if it had, or leak a non-etcd error text
that depends on Python internals without logging it.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from google.protobuf.message import DecodeError
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from petcd.common.errors import ErrNoLeader, EtcdError
from .. import learner
from ..admission import request_client
from ..auth_service import request_cert_user, request_token, sent_token
from ..tls import common_name
from . import txn_wire
from petcd.common.proto.convert import decoder, encoder

log = logging.getLogger("petcd.api")


def grpc_error(e: EtcdError) -> GRPCError:
    return GRPCError(Status(int(e.code)), e.message)


class Checks:
    """What every RPC is checked against before it runs (etcd's v3rpc interceptors)."""

    def __init__(self, has_leader: Callable[[], bool], is_learner: Callable[[], bool],
                 cert_users: bool = False) -> None:
        """cert_users: a verified client certificate names the user (--client-cert-auth)."""
        self.has_leader = has_leader
        self.is_learner = is_learner
        self.cert_users = cert_users

    def before(self, stream, request: object | None) -> None:
        """request: the decoded unary request, None for a stream (learners serve none).
        Also makes the call's token (metadata `token`, or `authorization` as the gateway
        forwards it) the request's (auth_service.py)."""
        md = stream.metadata
        request_token.set(sent_token(md))
        request_client.set(("grpc", stream.peer.addr()))  # its connection (admission.py)
        if self.cert_users:
            request_cert_user.set(common_name(stream.peer.cert()))
        if stream.metadata.get("hasleader") == "true" and not self.has_leader():
            raise grpc_error(ErrNoLeader)
        if self.is_learner() and learner.refuses(request):
            raise grpc_error(learner.not_capable())


def handler(checks: Checks, request_cls: type, call: Callable[[object], Awaitable],
            pb_request: type, pb_reply: type):
    """A grpclib method handler answering one pb_request with one pb_reply through `call`."""
    decode = decoder(request_cls, pb_request.DESCRIPTOR)
    encoders: dict[type, Callable] = {}

    async def handle(stream) -> None:
        pb = await stream.recv_message()
        req = decode(pb)
        checks.before(stream, req)
        try:
            resp = await call(req)
        except EtcdError as e:
            raise grpc_error(e) from None
        except GRPCError:
            raise
        except Exception as e:  # never a traceback to the client
            log.exception("internal error in %s", pb_request.__name__)
            raise GRPCError(Status.UNKNOWN, str(e)) from None
        enc = encoders.get(type(resp))
        if enc is None:
            enc = encoders[type(resp)] = encoder(type(resp), pb_reply)
        try:
            reply = enc(resp)
        except DecodeError:  # a deep txn's answer: upb copies sub-messages through its decoder
            with txn_wire.deep_messages():
                reply = enc(resp)
        await stream.send_message(reply)

    return handle
