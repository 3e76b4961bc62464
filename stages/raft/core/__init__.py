"""The pure Raft core: a deterministic state machine with no I/O (DESIGN.md section 2).

Start with `RawNode` (rawnode.py) and the `Ready` contract (ready.py); the algorithm is in
raft.py, the log in log.py and unstable.py, per-follower flow control in progress.py.
"""
from petcd.common.types import (
    NONE, ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message,
    MessageType, Snapshot, SnapshotMetadata,
)
from .config import Config, ReadOnlyOption
from .errors import ProposalDropped, RaftError
from .progress import ProgressState
from .raft import CAMPAIGN_TRANSFER, StateType
from .rawnode import RawNode, Status
from .ready import Ready, ReadState, SoftState
from .storage import MemoryStorage, Storage

__all__ = [
    "NONE", "CAMPAIGN_TRANSFER", "Config", "ConfChange", "ConfChangeType", "ConfState", "Entry",
    "EntryType", "HardState", "MemoryStorage", "Message", "MessageType", "ProgressState",
    "ProposalDropped", "RaftError", "RawNode", "ReadOnlyOption", "ReadState", "Ready",
    "Snapshot", "SnapshotMetadata", "SoftState", "StateType", "Status", "Storage",
]
