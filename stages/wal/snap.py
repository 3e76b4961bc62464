"""Snapshot files in `member/snap/`: `<term:016x>-<index:016x>.snap` (etcd's naming).

Theory of operation. One file holds one Snapshot (metadata and data):

    [magic "PSNP"][version u16][crc32 u32][metadata length u32][metadata][data]

The crc32 covers everything after it. The metadata uses the WAL's SNAPSHOT marker layout
(segment.encode_snapshot_metadata), so a file and its marker agree byte for byte. A file is
written atomically: to `<name>.tmp`, fsync, rename, fsync the directory, so a reader sees a
whole snapshot or none. Order with the WAL (etcd 3.5): write the .snap file first, then the
WAL marker; an orphan file is harmless, a marker without its file is not possible.

Loading picks the newest file that passes every check (and, given the WAL's markers, that
matches one of them: etcd's LoadNewestAvailable), skipping corrupt ones with a warning. Purge
keeps the newest `keep` files by (index, term).

Owner: the snap directory. Invariants: a `.snap` name always denotes a complete, synced file.
Must never: return a snapshot whose CRC or name does not match its content; delete the newest
file.
"""
from __future__ import annotations

import logging
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Iterable

from petcd.common.types import Snapshot, SnapshotMetadata
from .errors import SnapCorrupt
from .fileutil import fsync_dir, pwrite_all
from .segment import decode_snapshot_metadata, encode_snapshot_metadata

log = logging.getLogger(__name__)

SNAP_FORMAT_VERSION = 1
DEFAULT_KEEP_SNAPSHOTS = 5                    # etcd's --max-snapshots
_MAGIC = b"PSNP"
_HEAD = struct.Struct("<4sHI")                # magic, version, crc
_META_LEN = struct.Struct("<I")
_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.snap$")


def snap_name(term: int, index: int) -> str:
    return f"{term:016x}-{index:016x}.snap"


def encode_snapshot(snapshot: Snapshot) -> bytes:
    meta = encode_snapshot_metadata(snapshot.metadata)
    body = _META_LEN.pack(len(meta)) + meta + snapshot.data
    return _HEAD.pack(_MAGIC, SNAP_FORMAT_VERSION, zlib.crc32(body)) + body


def decode_snapshot(buf: bytes, path: str = "<buffer>") -> Snapshot:
    if len(buf) < _HEAD.size + _META_LEN.size:
        raise SnapCorrupt(path, f"file is {len(buf)} bytes, shorter than a header")
    magic, version, crc = _HEAD.unpack_from(buf)
    if magic != _MAGIC:
        raise SnapCorrupt(path, f"bad magic {magic!r}")
    if version != SNAP_FORMAT_VERSION:
        raise SnapCorrupt(path, f"unsupported snapshot format version {version}")
    body = memoryview(buf)[_HEAD.size:]
    if zlib.crc32(body) != crc:
        raise SnapCorrupt(path, "crc mismatch")
    (meta_len,) = _META_LEN.unpack_from(body)
    if _META_LEN.size + meta_len > len(body):
        raise SnapCorrupt(path, f"metadata length {meta_len} runs past the end of the file")
    try:
        meta = decode_snapshot_metadata(body[_META_LEN.size:_META_LEN.size + meta_len])
    except (struct.error, ValueError) as err:
        raise SnapCorrupt(path, f"bad metadata: {err}") from None
    return Snapshot(metadata=meta, data=bytes(body[_META_LEN.size + meta_len:]))


class Snapshotter:
    """The snap directory of one member. Single writer (the wal stage)."""

    def __init__(self, dir: str | os.PathLike, *, keep: int = DEFAULT_KEEP_SNAPSHOTS):
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.dir = Path(dir)
        self.keep = keep

    def save(self, snapshot: Snapshot) -> Path:
        """Write `snapshot` durably and atomically; returns its path."""
        m = snapshot.metadata
        if m.index == 0:
            raise ValueError("snap: refusing to save an empty snapshot (index 0)")
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True)
            fsync_dir(self.dir.parent)
        final = self.dir / snap_name(m.term, m.index)
        tmp = final.with_name(final.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            pwrite_all(fd, encode_snapshot(snapshot), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
        fsync_dir(self.dir)
        return final

    def names(self) -> list[Path]:
        """Snapshot files, oldest first by (index, term)."""
        if not self.dir.is_dir():
            return []
        found = []
        for p in self.dir.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.append((int(m.group(2), 16), int(m.group(1), 16), p))
        found.sort()
        return [p for _, _, p in found]

    def read(self, path: Path) -> Snapshot:
        """Read and check one file: content, and that its name matches its metadata."""
        snap = decode_snapshot(path.read_bytes(), str(path))
        m = snap.metadata
        if path.name != snap_name(m.term, m.index):
            raise SnapCorrupt(str(path), f"holds the snapshot at index {m.index} term {m.term}")
        return snap

    def load(self, metadata: SnapshotMetadata) -> Snapshot:
        """The snapshot at exactly (index, term); FileNotFoundError or SnapCorrupt if unusable."""
        return self.read(self.dir / snap_name(metadata.term, metadata.index))

    def load_newest(self, markers: Iterable[SnapshotMetadata] | None = None) -> Snapshot | None:
        """The newest valid snapshot (restricted to those matching `markers`, the WAL's
        snapshot markers, if given); None if there is none."""
        wanted = None if markers is None else {(m.index, m.term) for m in markers}
        for path in reversed(self.names()):
            try:
                snap = self.read(path)
            except (SnapCorrupt, OSError) as err:
                log.warning("snap: skipping %s: %s", path, err)
                continue
            if wanted is None or (snap.metadata.index, snap.metadata.term) in wanted:
                return snap
        return None

    def purge(self, keep: int | None = None) -> list[Path]:
        """Remove all but the newest `keep` snapshot files, and leftover temporary files.
        Call it after a save has returned, so the newest file is known to be whole."""
        keep = self.keep if keep is None else keep
        if keep < 1:
            raise ValueError("keep must be at least 1")
        names = self.names()
        removed = names[:max(len(names) - keep, 0)]
        if self.dir.is_dir():
            removed += sorted(self.dir.glob("*.snap.tmp"))
        for p in removed:
            p.unlink()
        if removed:
            fsync_dir(self.dir)
        return removed
