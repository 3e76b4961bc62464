"""The wal stage: segment files with a CRC per record, group commit, snapshots (DESIGN.md 1).

segment.py is the record format, wal.py the WAL directory (open/replay, save, sync, roll,
release), snap.py the snapshot files, errors.py what they raise. The stage loop drives them.
"""
from .errors import (
    SnapCorrupt, WALClosed, WALCorrupt, WALError, WALRecordTooLarge, WALSnapshotNotFound,
)
from .snap import Snapshotter
from .wal import WAL, Repair, Replay

__all__ = [
    "WAL", "Replay", "Repair", "Snapshotter", "WALError", "WALCorrupt", "WALRecordTooLarge",
    "WALSnapshotNotFound", "WALClosed", "SnapCorrupt",
]
