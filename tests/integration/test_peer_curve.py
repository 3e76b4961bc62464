"""Peer links with the cluster's CURVE key: a cluster replicates as before, and a rogue process
on the peer port, without the key or with another one, gets no answer, cannot ask to join,
and cannot inject raft frames."""
import time

import pytest
import zmq
import zmq.auth

from petcd.client import Client
from petcd.common import codec
from petcd.common.membership import ClusterAsk
from petcd.common.pipeline import PeerMessages
from petcd.stages.transport.curve import PeerCurve
from petcd.supervisor.join import _ask

pytestmark = pytest.mark.integration


def _rogue_dealer(ctx, port: int, curve=None) -> zmq.Socket:
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.IDENTITY, (1).to_bytes(8, "big"))  # pretends to be a member
    if curve is not None:
        curve(s)
    s.connect(f"tcp://127.0.0.1:{port}")
    return s


def test_only_holders_of_the_cluster_key_take_part(start_cluster, tmp_path):
    _, cluster_key = zmq.auth.create_certificates(str(tmp_path), "cluster")
    _, other_key = zmq.auth.create_certificates(str(tmp_path), "other")
    members = start_cluster(3, extra_args=("--peer-curve-secret-key-file", cluster_key))
    with Client(members[0].url) as c:
        c.put("k", "v1")
    with Client(members[2].url) as c:
        assert c.get_value("k") == b"v1"  # replicated over the encrypted links
        term = c.status().raft_term

    port = members[1].peer_port
    ctx = zmq.Context()
    try:
        other, cluster = PeerCurve(other_key), PeerCurve(cluster_key)

        def knows_the_server(s: zmq.Socket) -> None:
            # the cluster's public key (which is no secret) and a key pair of its own: the
            # member's authenticator refuses it
            s.curve_serverkey = cluster.public
            s.curve_publickey, s.curve_secretkey = other.public, other.secret

        rogues = [_rogue_dealer(ctx, port),                       # in the clear
                  _rogue_dealer(ctx, port, other.client),         # another cluster's key
                  _rogue_dealer(ctx, port, knows_the_server)]
        forged = codec.encode(PeerMessages(()))
        for r in rogues:
            r.send(codec.encode(ClusterAsk()))
            r.send(forged)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # the whole window, no answer to any of them
            for r in rogues:
                assert not r.poll(50), "a rogue peer got an answer"
        # a joining member without the key cannot learn the cluster
        url = f"http://127.0.0.1:{port}"
        assert _ask(ctx, url, 1.0) is None
        assert _ask(ctx, url, 1.0, other) is None
        assert _ask(ctx, url, 2.0, PeerCurve(cluster_key)) is not None  # with it, it can
    finally:
        ctx.destroy(linger=0)
    with Client(members[1].url) as c:  # the cluster is undisturbed
        c.put("k", "v2")
        assert c.status().raft_term == term
    with Client(members[0].url) as c:
        assert c.get_value("k") == b"v2"
