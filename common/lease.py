"""The Lease service's messages (etcd's etcdserverpb Lease*), and what the stages say of leases.

Client-facing: grant, revoke, keep-alive, time-to-live and leases, with etcd's field names
(the gateway's JSON names are literally `ID` and `TTL`). Internal: a checkpoint of remaining
TTLs (proposed by the leader, so a new leader does not restart every lease at its full TTL),
the changes apply reports to raft's lessor, and the keep-alive/time-to-live questions an api
worker asks the leader's lessor (forwarded between members by transport, never through the
raft log).
"""
from __future__ import annotations

from dataclasses import dataclass

from .kv import ResponseHeader


@dataclass(frozen=True, slots=True)
class LeaseGrantRequest:
    ttl: int = 0
    id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    header: ResponseHeader | None = None
    id: int = 0
    ttl: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class LeaseRevokeRequest:
    id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveRequest:
    id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResponse:
    header: ResponseHeader | None = None
    id: int = 0
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveRequest:
    id: int = 0
    keys: bool = False


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveResponse:
    header: ResponseHeader | None = None
    id: int = 0
    ttl: int = 0
    granted_ttl: int = 0
    keys: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseLeasesRequest:
    pass


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseLeasesResponse:
    header: ResponseHeader | None = None
    leases: tuple[LeaseStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseCheckpointRequest:
    """Remaining TTLs, proposed by the leader's lessor; `(id, remaining_ttl)` pairs, where 0
    means "renewed: a new leader starts it at its full TTL"."""
    checkpoints: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseChanges:
    """apply -> raft, after a batch: what the lessor must know. `granted` holds
    (id, ttl, remaining ttl or 0); `reset` says `granted` is the whole set (at start and
    after a snapshot install)."""
    granted: tuple[tuple[int, int, int], ...] = ()
    revoked: tuple[int, ...] = ()
    reset: bool = False


@dataclass(frozen=True, slots=True)
class LeaseAsk:
    """A keep-alive (`renew`) or time-to-live question for the leader's lessor. api -> raft;
    raft forwards it to the leader through transport when it does not lead itself.
    `origin` is the member whose worker `worker` waits for the answer under `ctx`.
    `min_index`: the asker had seen entries applied up to here (a grant it was answered, say);
    the lessor answers only once it knows of every lease change up to that index."""
    origin: int
    worker: int
    ctx: bytes
    lease_id: int
    renew: bool
    to: int = 0             # set when forwarded: the member it is for
    min_index: int = 0


@dataclass(frozen=True, slots=True)
class LeaseAnswer:
    """The lessor's answer: ttl -1 = no such lease (time-to-live; a keep-alive then answers
    TTL 0), else the TTL after the renewal or the remaining TTL, and the granted TTL."""
    origin: int
    worker: int
    ctx: bytes
    ttl: int
    granted_ttl: int
    to: int = 0


LEASE_TYPES = (
    LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse, LeaseLeasesRequest, LeaseStatus, LeaseLeasesResponse,
    LeaseCheckpointRequest, LeaseChanges, LeaseAsk, LeaseAnswer)
