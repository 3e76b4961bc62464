"""Text renderings of the core's values, for transcripts, logs and debugging.

One line per message or entry, in the spirit of etcd-io/raft's DescribeMessage, so that a
transcript reads like a trace of the protocol. Never used on a hot path.
"""
from __future__ import annotations

from petcd.common.types import (
    ConfChange, ConfState, Entry, EntryType, HardState, Message, MessageType as MT, Snapshot,
)
from .ready import Ready, ReadState, SoftState

_MSG_NAMES = {
    MT.HUP: "MsgHup", MT.BEAT: "MsgBeat", MT.PROP: "MsgProp", MT.APP: "MsgApp",
    MT.APP_RESP: "MsgAppResp", MT.VOTE: "MsgVote", MT.VOTE_RESP: "MsgVoteResp",
    MT.SNAP: "MsgSnap", MT.HEARTBEAT: "MsgHeartbeat", MT.HEARTBEAT_RESP: "MsgHeartbeatResp",
    MT.UNREACHABLE: "MsgUnreachable", MT.SNAP_STATUS: "MsgSnapStatus",
    MT.CHECK_QUORUM: "MsgCheckQuorum", MT.TRANSFER_LEADER: "MsgTransferLeader",
    MT.TIMEOUT_NOW: "MsgTimeoutNow", MT.READ_INDEX: "MsgReadIndex",
    MT.READ_INDEX_RESP: "MsgReadIndexResp", MT.PRE_VOTE: "MsgPreVote",
    MT.PRE_VOTE_RESP: "MsgPreVoteResp", MT.STORAGE_APPEND_RESP: "StorageAppendResp",
}
_STATE_NAMES = {0: "StateFollower", 1: "StateCandidate", 2: "StateLeader",
                3: "StatePreCandidate"}
_CC_NAMES = {0: "v", 1: "r", 2: "l"}


def describe_data(data: bytes) -> str:
    try:
        return '"' + data.decode("ascii") + '"' if data.isascii() else data.hex()
    except UnicodeDecodeError:  # pragma: no cover - isascii() guards it
        return data.hex()


def describe_entry(e: Entry) -> str:
    if e.type == EntryType.CONF_CHANGE:
        try:
            cc = ConfChange.decode(e.data)
            body = f"{_CC_NAMES.get(cc.type, '?')}{cc.node_id}"
        except ValueError:
            body = e.data.hex()
        return f"{e.term}/{e.index} EntryConfChange {body}"
    return f"{e.term}/{e.index} EntryNormal {describe_data(e.data)}"


def describe_entries(entries) -> str:
    return "[" + ", ".join(describe_entry(e) for e in entries) + "]"


def describe_conf_state(cs: ConfState) -> str:
    voters = " ".join(map(str, cs.voters))
    learners = " ".join(map(str, cs.learners))
    return f"Voters:[{voters}] Learners:[{learners}]"


def describe_snapshot(s: Snapshot) -> str:
    m = s.metadata
    return f"Index:{m.index} Term:{m.term} ConfState:{describe_conf_state(m.conf_state)}"


def describe_hard_state(hs: HardState) -> str:
    return f"HardState Term:{hs.term} Vote:{hs.vote} Commit:{hs.commit}"


def describe_soft_state(ss: SoftState) -> str:
    return f"Lead:{ss.lead} State:{_STATE_NAMES.get(ss.raft_state, ss.raft_state)}"


def describe_state(state: int) -> str:
    return _STATE_NAMES.get(state, str(state))


def describe_message(m: Message) -> str:
    s = f"{m.frm}->{m.to} {_MSG_NAMES.get(m.type, str(m.type))} Term:{m.term}"
    s += f" Log:{m.log_term}/{m.index}"
    if m.reject:
        s += f" Rejected (Hint: {m.reject_hint})"
    if m.commit:
        s += f" Commit:{m.commit}"
    if m.entries:
        s += " Entries:" + describe_entries(m.entries)
    if m.context:
        s += f" Context:{describe_data(m.context)}"
    if m.snapshot is not None and m.snapshot.metadata.index:
        s += " Snapshot: " + describe_snapshot(m.snapshot)
    return s


def describe_read_state(rs: ReadState) -> str:
    return f"Index:{rs.index} Context:{describe_data(rs.request_ctx)}"


def describe_ready(rd: Ready) -> str:
    """Multi-line, without blank lines (transcripts use blank lines as separators)."""
    lines: list[str] = []
    if rd.soft_state is not None:
        lines.append(describe_soft_state(rd.soft_state))
    if rd.hard_state is not None:
        lines.append(describe_hard_state(rd.hard_state))
    if rd.entries:
        lines.append("Entries:")
        lines += [describe_entry(e) for e in rd.entries]
    if rd.snapshot is not None:
        lines.append("Snapshot " + describe_snapshot(rd.snapshot))
    if rd.committed_entries:
        lines.append("CommittedEntries:")
        lines += [describe_entry(e) for e in rd.committed_entries]
    if rd.messages:
        lines.append("Messages:")
        lines += [describe_message(m) for m in rd.messages]
    if rd.persist_messages:
        lines.append("OnPersist:")
        lines += [describe_message(m) for m in rd.persist_messages]
    if rd.read_states:
        lines.append("ReadStates:")
        lines += [describe_read_state(rs) for rs in rd.read_states]
    return "\n".join(lines)
