"""The WAL directory: segment files, replay at open, append, group commit, roll and release.

Theory of operation. `member/wal/` holds segments named `<seq:016x>-<first_index:016x>.wal`
(etcd's naming: seq counts up from 0 with no gap; first_index is the index the segment's first
entry was expected to have when it was cut). Only the last segment is written to.

- open: take an exclusive flock on the directory (two writers would interleave records),
  create the first segment if there is none, then decode every segment in order, carrying the
  CRC chain across files. A bad record in the last segment that `segment.is_torn` calls a torn
  tail is cut off (its bytes are kept in `<segment>.<offset>.broken` for forensics, the tail
  re-zeroed and synced); any other bad record raises WALCorrupt(path, offset, reason).
- replay: the hard state is the last one written. Entries are replayed as raft wrote them: an
  entry whose index is <= the last one replaces that suffix (a new leader overwrote
  uncommitted entries). A SNAPSHOT marker (index S, term T) drops entries <= S (the snapshot
  holds them); if the log held index S with another term, the snapshot came from a leader
  whose log differs from ours and raft reset the log to it, so entries > S go too. The replay
  starts from the newest marker (or from open(snapshot=...), to fall back to an older snapshot
  file) and must then hold a gap-free run of entries from S + 1.
- save: one Ready at a time, framed in this order: snapshot marker, entries, hard state (the
  order the Ready is persisted in, etcd's SaveSnap before Save), then one write to the OS. No
  sync. sync: one fdatasync for everything saved since the last one (group commit). After it,
  a segment that has reached segment_size_bytes is rolled: the old one is cut to its exact
  length and fsynced (so only the last segment can ever hold a torn tail), the new one is
  built and synced under a `.tmp` name, renamed, and the directory fsynced.
- release_to(index): called once the state machine is durable past `index` and the snapshot
  file for the newest marker <= index is durable. Removes, oldest first, the segments before
  the one holding that marker whose entries are all <= the marker's index, fsyncing the
  directory after each removal so a crash can never leave a hole in the sequence.

Owner: the files in the WAL directory and the one fd written to. Invariants: segments are
contiguous in seq and in the CRC chain; every non-last segment ends exactly at its last
record; each segment header carries the latest hard state; nothing is acknowledged (sync
returns) before fdatasync returned.

Must never: sync per record; retry after a failed write or fdatasync (the WAL closes itself:
the page cache can no longer be trusted); repair anything but the last segment's tail; remove
a segment a replay from the newest released-to marker would need.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from petcd.common import hoptrace
from petcd.common.types import EMPTY_HARD_STATE, Entry, HardState, SnapshotMetadata
from . import segment
from .errors import WALClosed, WALCorrupt, WALError, WALSnapshotNotFound
from .fileutil import fsync_dir, preallocate, pwrite_all
from .segment import Encoder, RecordType

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024   # etcd: 64 MB
DEFAULT_MAX_RECORD_BYTES = 10 * 1024 * 1024     # etcd's maxWALEntrySizeLimit: 10 MB
MIN_SEGMENT_SIZE_BYTES = 1024                   # below this a header alone would fill a segment

_SEGMENT_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.wal$")


def segment_name(seq: int, first_index: int) -> str:
    return f"{seq:016x}-{first_index:016x}.wal"


@dataclass(slots=True)
class SegmentInfo:
    path: Path
    seq: int
    first_index: int
    max_entry_index: int = 0                 # highest entry index written in this segment
    markers: list[SnapshotMetadata] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Repair:
    """A torn tail that open() cut off."""
    path: str
    offset: int
    discarded_bytes: int
    reason: str


@dataclass(frozen=True, slots=True)
class Replay:
    """What open() read: enough for the raft stage to rebuild its MemoryStorage.

    `snapshot` is the marker the replay starts from (index 0 if none): load the matching file
    from member/snap/ (Snapshotter.load), then apply_snapshot, set_hard_state(hard_state),
    append(entries). `entries` run gap-free from snapshot.index + 1.
    """
    metadata: bytes
    snapshot: SnapshotMetadata
    hard_state: HardState
    entries: list[Entry]
    snapshot_markers: list[SnapshotMetadata]   # every marker seen, oldest first
    created: bool                              # the WAL did not exist: a new member
    repaired: Repair | None


class _Replayer:
    """Folds records into (snapshot, hard state, entries) with raft's overwrite semantics."""

    def __init__(self, start: SnapshotMetadata | None):
        self.start = start
        self.found_start = start is None or start.index == 0
        self.snapshot = SnapshotMetadata()
        self.hard_state = EMPTY_HARD_STATE
        self.entries: list[Entry] = []
        self.where = ("", 0)        # where entries[0] was read, for the gap message
        self.markers: list[SnapshotMetadata] = []

    def entry(self, e: Entry, path: Path, offset: int) -> None:
        if e.index <= self.snapshot.index:
            return
        ents = self.entries
        if ents and ents[0].index <= e.index <= ents[-1].index + 1:
            del ents[e.index - ents[0].index:]
            ents.append(e)
        else:  # first entry, or a gap: keep only what follows it; finish() checks coverage
            self.entries = [e]
            self.where = (str(path), offset)

    def marker(self, m: SnapshotMetadata, path: Path, offset: int) -> None:
        self.markers.append(m)
        if self.start is not None and m.index > self.start.index:
            return  # newer than the snapshot we replay from: its file is not being used
        if self.start is not None and (m.index, m.term) == (self.start.index, self.start.term):
            self.found_start = True
        if m.index == self.snapshot.index and m.index:
            if m.term != self.snapshot.term:
                raise WALCorrupt(str(path), offset, f"snapshot marker at index {m.index} has "
                                 f"term {m.term}, an earlier one term {self.snapshot.term}")
            return
        if m.index < self.snapshot.index:
            return
        ents = self.entries
        if ents and ents[0].index <= m.index <= ents[-1].index:
            i = m.index - ents[0].index
            # Raft restores a snapshot only when its log does not match it: the log was reset.
            self.entries = [] if ents[i].term != m.term else ents[i + 1:]
        elif ents and ents[-1].index < m.index:
            self.entries = []
        self.snapshot = m

    def finish(self) -> None:
        if not self.found_start:
            raise WALSnapshotNotFound(
                f"wal: no snapshot marker at index {self.start.index} term {self.start.term}; "
                f"markers found: {[(m.index, m.term) for m in self.markers]}")
        if self.start is not None and self.start.index:
            self.snapshot = self.start
        if self.entries and self.entries[0].index != self.snapshot.index + 1:
            path, offset = self.where
            raise WALCorrupt(path, offset, f"log entries {self.snapshot.index + 1}.."
                             f"{self.entries[0].index - 1} are missing: the log resumes at "
                             f"{self.entries[0].index} after snapshot {self.snapshot.index}")


class WAL:
    """An open WAL directory. Single writer: one instance per directory (flock-enforced)."""

    def __init__(self, dir: Path, dir_fd: int, segments: list[SegmentInfo], metadata: bytes,
                 hard_state: HardState, last_index: int, crc: int, offset: int, *,
                 segment_size_bytes: int, max_record_bytes: int):
        self.dir = dir
        self.metadata = metadata
        self.segment_size_bytes = segment_size_bytes
        self.max_record_bytes = max_record_bytes
        self._dir_fd = dir_fd
        self._segments = segments
        self._hard_state = hard_state
        self._last_index = last_index
        self._crc = crc
        self._offset = offset
        self._unsynced_bytes = 0
        self._fd: int | None = os.open(segments[-1].path, os.O_RDWR)
        self._closed_reason: str | None = None

    # -- open ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, dir: str | os.PathLike, *, metadata: bytes = b"",
             snapshot: SnapshotMetadata | None = None,
             segment_size_bytes: int = DEFAULT_SEGMENT_SIZE_BYTES,
             max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> tuple[WAL, Replay]:
        """Open (creating if absent) the WAL in `dir` and replay it.

        `metadata` (member/cluster ids) is written only when the WAL is created; Replay.metadata
        is what the WAL holds, for the caller to check. `snapshot`: replay from this marker
        instead of the newest one (when the newest snapshot file is unusable).
        """
        if segment_size_bytes < MIN_SEGMENT_SIZE_BYTES:
            raise ValueError(f"segment_size_bytes must be at least {MIN_SEGMENT_SIZE_BYTES}")
        if max_record_bytes <= 0:
            raise ValueError("max_record_bytes must be positive")
        path = Path(dir)
        if not path.is_dir():
            path.mkdir(parents=True)
            fsync_dir(path.parent)
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WALError(f"wal: {path} is locked by another process") from None
            for stale in path.glob("*.wal.tmp"):   # an interrupted create or roll
                stale.unlink()
            created = not any(_SEGMENT_NAME.match(p.name) for p in path.iterdir())
            if created:
                _create_segment(path, dir_fd, 0, 0, segment_size_bytes, metadata, None, crc=0)
            return cls._replay(path, dir_fd, snapshot, created, segment_size_bytes,
                               max_record_bytes)
        except BaseException:
            os.close(dir_fd)
            raise

    @classmethod
    def _replay(cls, path: Path, dir_fd: int, start: SnapshotMetadata | None, created: bool,
                segment_size_bytes: int, max_record_bytes: int) -> tuple[WAL, Replay]:
        segments = _list_segments(path)
        replayer = _Replayer(start)
        crc: int | None = None
        metadata: bytes | None = None
        repaired: Repair | None = None
        offset = 0
        for i, seg in enumerate(segments):
            buf = seg.path.read_bytes()
            res = segment.decode(buf, prev_crc=crc)
            last = i == len(segments) - 1
            for rec in res.records:
                if rec.type == RecordType.ENTRY:
                    replayer.entry(rec.value, seg.path, rec.offset)
                    seg.max_entry_index = max(seg.max_entry_index, rec.value.index)
                elif rec.type == RecordType.HARD_STATE:
                    replayer.hard_state = rec.value
                elif rec.type == RecordType.SNAPSHOT:
                    replayer.marker(rec.value, seg.path, rec.offset)
                    seg.markers.append(rec.value)
                elif rec.type == RecordType.METADATA:
                    if metadata is not None and rec.value.data != metadata:
                        raise WALCorrupt(str(seg.path), rec.offset,
                                         "metadata differs from the earlier segments'")
                    metadata = rec.value.data
            err = res.error
            if res.header_end is None and err is None:
                raise WALCorrupt(str(seg.path), res.valid_end, "segment header is incomplete")
            if err is not None:
                # The header was synced before the segment got its name: never torn.
                torn = (last and not err.crc_valid and res.header_end is not None
                        and segment.is_torn(buf, err.offset, max_record_bytes=max_record_bytes))
                if not torn:
                    raise WALCorrupt(str(seg.path), err.offset, err.reason)
                repaired = _repair_tail(seg.path, buf, err.offset, err.reason, segment_size_bytes)
            crc = res.crc
            offset = res.valid_end
        replayer.finish()
        last_index = replayer.entries[-1].index if replayer.entries else replayer.snapshot.index
        wal = cls(path, dir_fd, segments, metadata or b"", replayer.hard_state, last_index,
                  crc or 0, offset, segment_size_bytes=segment_size_bytes,
                  max_record_bytes=max_record_bytes)
        if offset >= segment_size_bytes:
            wal._cut()   # a crash between a sync and its roll
        return wal, Replay(metadata=metadata or b"", snapshot=replayer.snapshot,
                           hard_state=replayer.hard_state, entries=replayer.entries,
                           snapshot_markers=replayer.markers, created=created,
                           repaired=repaired)

    # -- write path ---------------------------------------------------------------------------

    def save(self, hard_state: HardState | None = None, entries: Sequence[Entry] = (),
             snapshot: SnapshotMetadata | None = None) -> int:
        """Append one Ready's records to the OS buffer (no sync). Returns the bytes written.

        Raises WALRecordTooLarge (nothing written) or ValueError for entries that would leave a
        gap in the log.
        """
        self._check_open()
        floor = max(self._last_index, snapshot.index if snapshot is not None else 0)
        if entries:
            if entries[0].index > floor + 1 or entries[0].index < 1:
                raise ValueError(f"wal: entry {entries[0].index} does not follow the last "
                                 f"index {floor}")
            for a, b in zip(entries, entries[1:]):
                if b.index != a.index + 1:
                    raise ValueError(f"wal: entries are not contiguous ({a.index}, {b.index})")
        enc = Encoder(self._crc, self.max_record_bytes)
        if snapshot is not None:
            enc.snapshot(snapshot)
        for e in entries:
            enc.entry(e)
        if hard_state is not None:
            enc.hard_state(hard_state)
        if not enc.buf:
            return 0
        try:
            pwrite_all(self._fd, enc.buf, self._offset)
        except OSError as err:
            self._fail(f"write failed: {err}")
            raise
        seg = self._segments[-1]
        self._crc = enc.crc
        self._offset += len(enc.buf)
        self._unsynced_bytes += len(enc.buf)
        if snapshot is not None:
            seg.markers.append(snapshot)
            self._last_index = max(self._last_index, snapshot.index)
        if entries:
            self._last_index = entries[-1].index
            seg.max_entry_index = max(seg.max_entry_index, self._last_index)
        if hard_state is not None:
            self._hard_state = hard_state
        return len(enc.buf)

    def sync(self) -> int:
        """One fdatasync for everything saved since the last sync; returns the bytes it made
        durable (0, and no fdatasync, if there was nothing). Rolls a full segment afterwards."""
        self._check_open()
        n = self._unsynced_bytes
        if n == 0:
            return 0
        if hoptrace.ON:
            hoptrace.point("fdatasync")
        try:
            os.fdatasync(self._fd)
        except OSError as err:
            self._fail(f"fdatasync failed: {err}")
            raise
        if hoptrace.ON:
            hoptrace.point("synced")
        self._unsynced_bytes = 0
        if self._offset >= self.segment_size_bytes:
            self._cut()
        return n

    def drop_unsynced(self) -> int:
        """Zero what was written since the last sync (fault injection: the bytes a power cut
        takes with the page cache). Returns how many bytes were dropped."""
        n = self._unsynced_bytes
        if n:
            pwrite_all(self._fd, bytes(n), self._offset - n)
        return n

    def _cut(self) -> None:
        """Finish the last segment at its exact length and start the next one."""
        old = self._segments[-1]
        try:
            # Appends past the preallocation already set the size; the truncate guards any
            # future preallocation beyond segment_size_bytes (a finished segment has no tail).
            os.ftruncate(self._fd, self._offset)
            os.fsync(self._fd)            # fsync, not fdatasync: the new size must be durable
            os.close(self._fd)
            self._fd = None
            seq, first_index = old.seq + 1, self._last_index + 1
            hs = self._hard_state if self._hard_state != EMPTY_HARD_STATE else None
            self._offset, self._crc = _create_segment(
                self.dir, self._dir_fd, seq, first_index, self.segment_size_bytes,
                self.metadata, hs, crc=self._crc)
            new = SegmentInfo(self.dir / segment_name(seq, first_index), seq, first_index)
            self._segments.append(new)
            self._fd = os.open(new.path, os.O_RDWR)
        except OSError as err:
            self._fail(f"roll to a new segment failed: {err}")
            raise

    # -- release ------------------------------------------------------------------------------

    def release_to(self, index: int) -> list[Path]:
        """Remove the segments no replay can need once the state machine is durable past
        `index` (and the snapshot file for the newest marker <= index is durable). Returns the
        removed paths."""
        self._check_open()
        base: SnapshotMetadata | None = None
        holder = 0
        for i, seg in enumerate(self._segments):
            for m in seg.markers:
                if m.index <= index and (base is None or m.index >= base.index):
                    base, holder = m, i
        removed: list[Path] = []
        if base is None:
            return removed
        # Entries above the marker are still needed by a replay from it, even if applied.
        for _ in range(holder):
            if self._segments[0].max_entry_index > base.index:
                break
            seg = self._segments.pop(0)
            seg.path.unlink()
            os.fsync(self._dir_fd)   # one at a time: a crash must not leave a hole
            removed.append(seg.path)
        return removed

    # -- state --------------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self._last_index

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    @property
    def unsynced_bytes(self) -> int:
        return self._unsynced_bytes

    @property
    def segments(self) -> list[Path]:
        return [s.path for s in self._segments]

    @property
    def offset(self) -> int:
        """Where the next record goes in the last segment."""
        return self._offset

    def close(self) -> None:
        """Sync what is unsynced, then release the files and the lock."""
        if self._closed_reason is None:
            try:
                self.sync()
            finally:
                self._release_fds("closed")

    def _check_open(self) -> None:
        if self._closed_reason is not None:
            raise WALClosed(f"wal: {self._closed_reason}")

    def _fail(self, reason: str) -> None:
        log.error("wal: %s; the WAL is closed and must be reopened (replayed)", reason)
        self._release_fds(reason)

    def _release_fds(self, reason: str) -> None:
        self._closed_reason = reason
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)   # closing the last fd on the directory drops the flock
            self._dir_fd = None

    def __enter__(self) -> WAL:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _list_segments(path: Path) -> list[SegmentInfo]:
    found = []
    for p in path.iterdir():
        m = _SEGMENT_NAME.match(p.name)
        if m:
            found.append(SegmentInfo(p, int(m.group(1), 16), int(m.group(2), 16)))
    found.sort(key=lambda s: s.seq)
    for a, b in zip(found, found[1:]):
        if b.seq != a.seq + 1:
            raise WALCorrupt(str(b.path), 0, f"segment sequence has a gap: {a.seq:016x} is "
                             f"followed by {b.seq:016x}")
    return found


def _create_segment(dir: Path, dir_fd: int, seq: int, first_index: int, size: int,
                    metadata: bytes, hard_state: HardState | None, *, crc: int) -> tuple[int, int]:
    """Write a segment header under a temporary name, sync, rename, sync the directory.
    Returns (offset after the header, CRC chain value)."""
    final = dir / segment_name(seq, first_index)
    tmp = final.with_name(final.name + ".tmp")
    enc = Encoder(crc, max_record_bytes=1 << 32)   # the header is ours: no client data
    enc.header(metadata, hard_state)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        preallocate(fd, size)
        pwrite_all(fd, enc.buf, 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    os.fsync(dir_fd)
    return len(enc.buf), enc.crc


def _repair_tail(path: Path, buf: bytes, offset: int, reason: str, size: int) -> Repair:
    """Cut a torn tail: keep its bytes aside, truncate, re-zero, make it durable."""
    end = segment.data_end(buf)
    broken = path.with_name(f"{path.name}.{offset:x}.broken")
    broken.write_bytes(buf[offset:max(end, offset)])
    fd = os.open(path, os.O_RDWR)
    try:
        os.ftruncate(fd, offset)
        preallocate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    log.warning("wal: repaired a torn tail in %s at byte offset %d (%s); %d bytes moved to %s",
                path, offset, reason, max(end - offset, 0), broken.name)
    return Repair(str(path), offset, max(end - offset, 0), reason)
