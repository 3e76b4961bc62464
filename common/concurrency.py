"""The Lock and Election services' messages: etcd's v3lockpb and v3electionpb as frozen,
slotted dataclasses (field names are the proto's, as in kv.py)."""
from __future__ import annotations

from dataclasses import dataclass

from .kv import KeyValue, ResponseHeader


@dataclass(frozen=True, slots=True)
class LockRequest:
    name: bytes = b""
    lease: int = 0


@dataclass(frozen=True, slots=True)
class LockResponse:
    header: ResponseHeader | None = None
    key: bytes = b""


@dataclass(frozen=True, slots=True)
class UnlockRequest:
    key: bytes = b""


@dataclass(frozen=True, slots=True)
class UnlockResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class LeaderKey:
    name: bytes = b""
    key: bytes = b""
    rev: int = 0
    lease: int = 0


@dataclass(frozen=True, slots=True)
class CampaignRequest:
    name: bytes = b""
    lease: int = 0
    value: bytes = b""


@dataclass(frozen=True, slots=True)
class CampaignResponse:
    header: ResponseHeader | None = None
    leader: LeaderKey | None = None


@dataclass(frozen=True, slots=True)
class ProclaimRequest:
    leader: LeaderKey | None = None
    value: bytes = b""


@dataclass(frozen=True, slots=True)
class ProclaimResponse:
    header: ResponseHeader | None = None


@dataclass(frozen=True, slots=True)
class LeaderRequest:
    name: bytes = b""


@dataclass(frozen=True, slots=True)
class LeaderResponse:
    header: ResponseHeader | None = None
    kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class ResignRequest:
    leader: LeaderKey | None = None


@dataclass(frozen=True, slots=True)
class ResignResponse:
    header: ResponseHeader | None = None
