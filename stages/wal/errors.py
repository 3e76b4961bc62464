"""What the wal stage raises.

Theory of operation: every failure names what the operator needs in order to act on it: the
file, the byte offset, the reason. Corruption is fatal (WALCorrupt, SnapCorrupt); a torn tail
is not an error at all (the opener repairs it). The stage loop turns any of these into a clean
exit of the member (DESIGN.md 1: never a half-alive member).
"""
from __future__ import annotations


class WALError(Exception):
    """Base class of everything the wal stage raises."""


class WALCorrupt(WALError):
    """A record that cannot be trusted lies before the tail of the log: refuse to start.

    Never repaired automatically, because the records after it were synced and may have been
    acknowledged (etcd treats a CRC mismatch outside a torn tail as fatal, as we do).
    """

    def __init__(self, path: str, offset: int, reason: str):
        super().__init__(f"wal: corrupt record in {path} at byte offset {offset}: {reason}")
        self.path = str(path)
        self.offset = offset
        self.reason = reason


class WALRecordTooLarge(WALError, ValueError):
    """A record's payload exceeds max_record_bytes; nothing of that save was written."""

    def __init__(self, size: int, max_record_bytes: int, what: str):
        super().__init__(
            f"wal: {what} record of {size} bytes exceeds max_record_bytes ({max_record_bytes})")
        self.size = size
        self.max_record_bytes = max_record_bytes


class WALSnapshotNotFound(WALError):
    """open(snapshot=...) named a snapshot the WAL holds no marker for (etcd's
    ErrSnapshotNotFound): the WAL cannot be replayed from it."""


class WALClosed(WALError):
    """The WAL is closed, or failed an earlier write or sync and must not be used again.

    After a failed fdatasync the page cache state is unknown (Linux may drop the dirty pages
    and report success next time), so retrying is unsafe: the stage must exit and replay.
    """


class SnapCorrupt(WALError):
    """A snapshot file failed its checks (magic, version, length, CRC or name)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"snap: corrupt snapshot file {path}: {reason}")
        self.path = str(path)
        self.reason = reason
