"""What a learner member serves: etcd 3.4 lets a learner answer only Status and serializable
Range requests; everything else, streams included, gets "rpc not supported for learner"
(Unavailable, so clients move on to another endpoint). A learner's log may lag, and it is in
no quorum: it can neither take writes nor vouch for a linearizable read."""
from __future__ import annotations

from petcd.common.cluster import StatusRequest
from petcd.common.errors import ErrNotCapable, EtcdError
from petcd.common.kv import RangeRequest


def refuses(request: object) -> bool:
    """Whether a learner refuses `request` (a decoded unary request; None for a stream)."""
    if isinstance(request, StatusRequest):
        return False
    if isinstance(request, RangeRequest):
        return not request.serializable
    return True


def not_capable() -> EtcdError:
    return EtcdError(ErrNotCapable.code, ErrNotCapable.message)
