"""The Cluster service: member list, add, remove, update and promote.

Theory of operation. A list is a read of the member table in LMDB. A change is checked here
for what needs no cluster state (the peer URLs must be valid), then sent to raft as a
MemberChangeAsk; the leader checks it against the cluster (stages/raft/reconfig.py) and
proposes it, and this member's apply answers once it has applied it, or the leader's refusal
comes back as an error. The answer lists the members as they are once the change is applied
(read from LMDB then), as etcd does. A new member's id is etcd's: a hash of its sorted peer
URLs and the current second, so the same URLs added twice within a second collide ("member ID
already exist"), as in etcd.

Cluster answers carry no revision in their header (etcd 3.4).
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from petcd.common import cluster
from petcd.common.errors import ErrMemberBadURLs, EtcdError
from petcd.common.ids import member_id
from petcd.common.kv import ResponseHeader
from petcd.common.membership import MemberChangeAsk, MemberChangeKind as Kind
from petcd.common.pipeline import MemberInfo

# etcd takes http, https, unix and unixs; petcd's transport dials TCP: http, https and tcp.
PEER_URL_SCHEMES = ("http", "https", "tcp")


def parse_peer_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    """The URLs trimmed and sorted, as etcd stores them; etcd's error if one is not a
    scheme://host:port URL without a path."""
    out = []
    for raw in urls:
        u = raw.strip()
        try:
            parts = urlsplit(u)
            port = parts.port
        except ValueError:
            raise _bad_urls() from None
        if (parts.scheme not in PEER_URL_SCHEMES or not parts.hostname or port is None
                or parts.path or parts.query or parts.fragment):
            raise _bad_urls()
        out.append(u)
    if not out:
        raise _bad_urls()
    return tuple(sorted(out))


def _bad_urls() -> EtcdError:
    return EtcdError(ErrMemberBadURLs.code, ErrMemberBadURLs.message)


def to_member(m: MemberInfo) -> cluster.Member:
    return cluster.Member(m.id, m.name, m.peer_urls, m.client_urls, m.is_learner)


class MemberService:
    def __init__(self, service, reader, now=time.time) -> None:
        """`service`: the KVService whose ids, waiters and pipe to raft this shares."""
        self.service = service
        self.reader = reader
        self.now = now

    def _header(self) -> ResponseHeader:
        m = self.service.member
        return ResponseHeader(m.cluster_id, m.member_id, 0, m.status.term)

    def _members(self) -> tuple[cluster.Member, ...]:
        return tuple(to_member(m) for m in sorted(self.reader.members(), key=lambda m: m.id))

    async def list(self, req: cluster.MemberListRequest | None = None) \
            -> cluster.MemberListResponse:
        return cluster.MemberListResponse(header=self._header(), members=self._members())

    async def add(self, req: cluster.MemberAddRequest) -> cluster.MemberAddResponse:
        urls = parse_peer_urls(req.peer_urls)
        # etcd names no cluster here (the token counts only for the initial members).
        new = MemberInfo(member_id(urls, "", int(self.now())), "", urls, (), req.is_learner)
        await self._change(Kind.ADD, new)
        return cluster.MemberAddResponse(header=self._header(), member=to_member(new),
                                         members=self._members())

    async def remove(self, req: cluster.MemberRemoveRequest) -> cluster.MemberRemoveResponse:
        await self._change(Kind.REMOVE, MemberInfo(req.id, "", ()))
        return cluster.MemberRemoveResponse(header=self._header(), members=self._members())

    async def update(self, req: cluster.MemberUpdateRequest) -> cluster.MemberUpdateResponse:
        # etcd 3.4 does not check these and its members crash on a bad one; petcd refuses
        # them as MemberAdd does.
        urls = parse_peer_urls(req.peer_urls)
        await self._change(Kind.UPDATE, MemberInfo(req.id, "", urls))
        return cluster.MemberUpdateResponse(header=self._header(), members=self._members())

    async def promote(self, req: cluster.MemberPromoteRequest) -> cluster.MemberPromoteResponse:
        await self._change(Kind.PROMOTE, MemberInfo(req.id, "", ()))
        return cluster.MemberPromoteResponse(header=self._header(), members=self._members())

    async def _change(self, kind: Kind, member: MemberInfo) -> None:
        s = self.service
        if s.auth is not None:  # root only, checked before raft as etcd does
            await s.auth.admin()
        request_id = s.new_request_id()
        await s.submit(request_id, MemberChangeAsk(
            s.member.member_id, s.worker, request_id, int(kind), member))
