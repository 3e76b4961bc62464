"""Errors the Raft core reports to its caller.

The core never raises for a message from the network (a bad or stale message is ignored, as in
etcd-io/raft); it raises only when the caller asks for something the core cannot do, so the
caller can surface the reason (etcd maps a dropped proposal to "etcdserver: no leader" or a
retry).
"""


class RaftError(Exception):
    """Base class of everything the core raises."""


class ProposalDropped(RaftError):
    """The proposal was not appended; `reason` says why (no leader, transfer in progress, ...)."""

    NO_LEADER = "no leader"
    TRANSFERRING = "leadership transfer in progress"
    NOT_LEADER_NO_FORWARDING = "not leader and proposal forwarding is disabled"
    TOO_LARGE = "uncommitted entries exceed max_uncommitted_entries_bytes"
    NOT_A_MEMBER = "this node is not a member of the cluster"

    def __init__(self, reason: str):
        super().__init__(f"raft proposal dropped: {reason}")
        self.reason = reason


class StepLocalMessage(RaftError):
    """A local-only message type was given to step() as if it came from a peer."""


class StepPeerNotFound(RaftError):
    """A response message came from a node this one does not track."""


class Compacted(RaftError):
    """The requested index is below the first index of the log (etcd's ErrCompacted)."""


class Unavailable(RaftError):
    """The requested index is above the last index of the storage (etcd's ErrUnavailable)."""


class SnapshotOutOfDate(RaftError):
    """A snapshot older than the current one was offered (etcd's ErrSnapOutOfDate)."""


class SnapshotTemporarilyUnavailable(RaftError):
    """Storage cannot produce a snapshot right now; the leader retries later."""
