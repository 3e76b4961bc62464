"""The messages that flow between the stages of one member (DESIGN.md section 1).

propc:    api -> raft      Proposal, ReadIndexRequest, TransferLeadership, LeaseAsk,
                           MemberChangeAsk, Defragment (passed on to apply)
readc:    raft -> api      ReadIndexResult, ProposalFailed, RaftStatus, TransferLeadershipStarted,
                           LeaseAnswer, ApplyResult (a refused membership change)
appendc:  raft -> wal      AppendRequest, SaveSnapshot
respc:    wal -> raft      Recovered (once, first), AppendDone
applyc:   raft -> apply    ApplyBatch, ApplySnapshot, Defragment
appliedc: apply -> raft    Applied, LeaseChanges and Membership (before the Applied of the same
                           batch)
resultc:  apply -> api     ApplyResult (to the proposing worker), Applied and StoreMoved (to
                           all)
sendc:    raft -> transport  PeerFrame (PeerMessages for a MsgSnap), Membership, LeaseAsk and
                             LeaseAnswer, MemberChangeAsk and MemberChangeRefused for another
                             member
          wal -> transport   PeerFrame: the messages that waited on an append (AppendRequest)
recvc:    transport -> raft  PeerMessages (a peer's frame as it came), PeerUnreachable,
                             SnapshotStatus, PeerActivity, LeaseAsk, LeaseAnswer,
                             MemberChangeAsk, MemberChangeRefused
(peers):  transport -> transport  PeerMessages, SnapshotChunk, LeaseAsk, LeaseAnswer,
                                  MemberChangeAsk, MemberChangeRefused, RemovedNotice,
                                  ClusterAsk and ClusterInfo (a joining member) (TCP)
ctlc:     any stage -> supervisor  StageReady, StageFailed, MemberRemoved

Lease types live in common/lease.py, membership types in common/membership.py. A client write
is encoded once, by the api, into an InternalRequest; its bytes travel as the Raft entry's
data through raft, wal and apply unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import codec
from .types import Entry, HardState, Message, MessageType, Snapshot


@dataclass(frozen=True, slots=True)
class Many:
    """Several messages in one frame: senders batch what one turn produced, and receivers
    (ipc/channel.py) unpack it, so a stage wakes once per batch, not once per message."""
    items: tuple

    @staticmethod
    def of(values) -> object:
        """What to send for `values` (a non-empty sequence): one value alone, several as Many."""
        return values[0] if len(values) == 1 else Many(tuple(values))


@dataclass(frozen=True, slots=True)
class InternalRequest:
    """What a client write becomes in the Raft log (etcd's InternalRaftRequest).

    Every member applies every entry, but only the member the client asked (`origin`) answers
    it; `id` is unique within that member: (worker << 48) | sequence."""
    id: int
    origin: int             # the member id of the member that proposed it
    op: object              # PutRequest | DeleteRangeRequest | TxnRequest | ... | AlarmRequest
    # The client's identity for apply's permission checks (etcd's RequestHeader username and
    # auth revision): "" for a client without a token; None for the member's own requests
    # (expired leases, auto-compaction, the quota's alarm), which are not checked.
    user: str | None = None
    auth_revision: int = 0


@dataclass(frozen=True, slots=True)
class Proposal:
    request_id: int
    worker: int
    data: bytes             # an encoded InternalRequest


@dataclass(frozen=True, slots=True)
class ReadIndexRequest:
    worker: int
    ctx: bytes


@dataclass(frozen=True, slots=True)
class TransferLeadership:
    """api asks raft to hand leadership to `target` (MoveLeader)."""
    worker: int
    ctx: bytes
    target: int


@dataclass(frozen=True, slots=True)
class TransferLeadershipStarted:
    """raft's answer: "" if the transfer started, else why not (an etcd error message)."""
    ctx: bytes
    error: str


@dataclass(frozen=True, slots=True)
class ReadIndexResult:
    ctx: bytes
    index: int


@dataclass(frozen=True, slots=True)
class ProposalFailed:
    request_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class RaftStatus:
    """Published by raft when term, leader or role changes, and every second (which refreshes
    `commit`): feeds headers and status."""
    term: int
    lead: int
    commit: int
    raft_state: int
    is_learner: bool = False   # this member is a learner (it refuses most client requests)


@dataclass(frozen=True, slots=True)
class AppendRequest:
    seq: int
    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    must_sync: bool
    # Messages to peers that may leave only once this append is durable (votes, append
    # acknowledgements), as transport takes them (PeerFrame.per_peer): wal hands them to
    # transport itself after the fdatasync, a hop shorter than back through raft.
    messages: tuple = ()


@dataclass(frozen=True, slots=True)
class SaveSnapshot:
    """raft took a snapshot of its log at an index apply has made durable: wal records it and
    may release the segments before it. The state itself is LMDB; `data` stays empty."""
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class AppendDone:
    seq: int


@dataclass(frozen=True, slots=True)
class ApplyBatch:
    entries: tuple[Entry, ...]
    term: int


@dataclass(frozen=True, slots=True)
class Applied:
    index: int
    revision: int


@dataclass(frozen=True, slots=True)
class ApplyResult:
    request_id: int
    response: object        # a kv response dataclass, or None on error
    error_code: int = 0
    error_message: str = ""


@dataclass(frozen=True, slots=True)
class PeerMessages:
    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class PeerFrame:
    """raft to transport: one peer's messages of a turn, already encoded as the PeerMessages
    frame the peer receives. transport sends it as it is and the receiving transport hands it
    to raft as it is: only the two rafts decode messages and their entries."""
    to: int
    frame: bytes

    @staticmethod
    def per_peer(messages) -> list:
        """`messages` as one PeerFrame per peer, in the order they were sent; a MsgSnap stays
        decoded (PeerMessages), for transport streams the store before it."""
        by_peer: dict[int, list[Message]] = {}
        out: list = []
        for m in messages:
            if m.type == MessageType.SNAP:
                out.append(PeerMessages((m,)))
            else:
                by_peer.setdefault(m.to, []).append(m)
        for to, msgs in by_peer.items():
            out.append(PeerFrame(to, codec.encode(PeerMessages(tuple(msgs)))))
        return out


@dataclass(frozen=True, slots=True)
class PeerUnreachable:
    node_id: int


@dataclass(frozen=True, slots=True)
class SnapshotStatus:
    """transport's report on a MsgSnap it was asked to deliver."""
    node_id: int
    failed: bool


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """transport to transport: a piece of the leader's store, streamed after a MsgSnap.

    Chunks of one stream go in order on one connection; `offset` lets the receiver notice a
    lost or restarted stream. The last chunk (`done`) carries the stream's total size and
    CRC-32; only then is the MsgSnap (`message`, on every chunk) handed to raft."""
    message: Message
    offset: int
    data: bytes
    done: bool = False
    size: int = 0
    crc32: int = 0


@dataclass(frozen=True, slots=True)
class ApplySnapshot:
    """raft to apply: the snapshot at `index` is durable in the WAL; install the store that
    transport received for it (member/snap/<index>.snap.db) before any later entry."""
    index: int
    term: int


@dataclass(frozen=True, slots=True)
class Recovered:
    """What wal read back at start, for raft to rebuild its log cache (sent once, first)."""
    snapshot: Snapshot | None
    hard_state: HardState
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A member as the cluster records it; the context of the conf change that adds it."""
    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False


@dataclass(frozen=True, slots=True)
class PublishAttributes:
    """A member announces its name and client URLs through raft once it serves (etcd's
    publish), so every member's member list shows them."""
    member_id: int
    name: str
    client_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Defragment:
    """api asks its member's apply stage (through raft, which only passes it on: defragmenting
    is local to a member, as in etcd) to compact the store's file; answered by an ApplyResult
    for request_id."""
    worker: int
    request_id: int


@dataclass(frozen=True, slots=True)
class StoreMoved:
    """apply tells every api worker that the store now lives in another file (a defragmented
    copy): readers reopen it before they read what the next Applied announces."""
    generation: int


@dataclass(frozen=True, slots=True)
class StageReady:
    stage: str
    pid: int


@dataclass(frozen=True, slots=True)
class StageFailed:
    stage: str
    reason: str


for _code, _cls in enumerate((
        Many, InternalRequest, Proposal, ReadIndexRequest, ReadIndexResult, ProposalFailed,
        RaftStatus, AppendRequest, AppendDone, ApplyBatch, Applied, ApplyResult, PeerMessages,
        PeerUnreachable, Recovered, MemberInfo, StageReady, StageFailed, SaveSnapshot, SnapshotStatus,
        TransferLeadership, TransferLeadershipStarted, PublishAttributes, SnapshotChunk,
        ApplySnapshot, PeerFrame, Defragment, StoreMoved), start=49):
    codec.register(_code, _cls)

