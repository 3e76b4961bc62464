"""Who this member is, settled before any stage starts (common/identity.py).

Theory of operation. A data dir that has an identity keeps it. A fresh one with
`--initial-cluster-state new` takes the one its flags give. A fresh one with `existing` joins
a running cluster, as etcd does: it asks the peers of --initial-cluster (their transport, on
the peer port) for the cluster's id and members, checks that --initial-cluster names exactly
those members (matched by peer URLs), and takes the id the cluster gave its own peer URLs when
it was added. Such a member never bootstraps a cluster of its own. A data dir written before
identities were saved (a WAL, no identity) gets the flags' identity, as it did then.
"""
from __future__ import annotations

import os
import time

import zmq

from petcd.stages.transport import curve
from petcd.common import codec, identity
from petcd.common.identity import Identity
from petcd.common.ids import parse_initial_cluster
from petcd.common.layout import wal_dir
from petcd.common.membership import ClusterAsk, ClusterInfo
from petcd.stages.transport.peer import tcp_address

JOIN_TIMEOUT_S = 10.0
ASK_TIMEOUT_S = 1.0


class JoinError(RuntimeError):
    pass


def resolve(cfg) -> Identity:
    """This member's identity, saved in its data dir once settled."""
    found = identity.load(cfg.data_dir)
    if found is not None:
        return found
    if cfg.initial_cluster_state == "existing" and not _has_wal(cfg.data_dir):
        ident = join(cfg, fetch_cluster(cfg))
    else:
        ident = identity.from_config(cfg)
    identity.save(cfg.data_dir, ident)
    return ident


def _has_wal(data_dir: str) -> bool:
    try:
        return any(n.endswith(".wal") for n in os.listdir(wal_dir(data_dir)))
    except FileNotFoundError:
        return False


def fetch_cluster(cfg, timeout_s: float = JOIN_TIMEOUT_S) -> ClusterInfo:
    """The cluster as a peer's transport describes it; peers are asked in turn until one
    answers."""
    own = set(cfg.initial_advertise_peer_urls)
    urls = [u for name, us in parse_initial_cluster(cfg.initial_cluster).items()
            if name != cfg.name for u in us if u not in own]
    if not urls:
        raise JoinError("--initial-cluster-state existing needs the other members in "
                        "--initial-cluster")
    ctx = zmq.Context()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for url in urls:
                info = _ask(ctx, url, min(ASK_TIMEOUT_S, max(0.0, deadline - time.monotonic())),
                            curve.of(cfg))
                if info is not None:
                    return info
    finally:
        ctx.destroy(linger=0)
    raise JoinError("cannot fetch cluster info from peer urls: could not retrieve cluster "
                    "information from the given URLs")


def _ask(ctx: zmq.Context, url: str, timeout_s: float, peer_curve=None) -> ClusterInfo | None:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if peer_curve is not None:  # the cluster's key, as the peer links (transport/curve.py)
        peer_curve.client(sock)
    try:
        sock.connect(tcp_address(url))
        sock.send(codec.encode(ClusterAsk()))
        if not sock.poll(int(timeout_s * 1000)):
            return None
        try:
            answer = codec.decode(sock.recv())
        except codec.CodecError:
            return None
        return answer if isinstance(answer, ClusterInfo) else None
    finally:
        sock.close(0)


def join(cfg, info: ClusterInfo) -> Identity:
    """Match --initial-cluster against the running cluster (etcd's
    ValidateClusterAndAssignIDs): same number of members, each found by its peer URLs."""
    local = parse_initial_cluster(cfg.initial_cluster)
    if len(local) != len(info.members):
        raise JoinError("error validating peerURLs: member count is unequal")
    by_urls = {tuple(sorted(urls)): name for name, urls in local.items()}
    me = None
    for m in info.members:
        name = by_urls.get(tuple(sorted(m.peer_urls)))
        if name is None:
            raise JoinError(f"error validating peerURLs: PeerURLs: no match found for existing "
                            f"member ({m.id:x}, {list(m.peer_urls)})")
        if name == cfg.name:
            me = m
    if me is None:
        raise JoinError(f"--initial-cluster has no entry for this member {cfg.name!r}")
    return Identity(info.cluster_id, me.id, info.members)
