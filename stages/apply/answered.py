"""The highest log index whose results apply has sent before LMDB made them visible.

Theory of operation (DESIGN.md 3). apply answers a batch's clients before the LMDB commit
that makes the batch visible, so that the commit's fdatasync is not on the answer path. That
is safe on three conditions:
(a) LMDB still syncs every commit, so a power cut never leaves it corrupt;
(b) every answered entry is committed, i.e. in the WAL on a quorum, and a restart replays the
    WAL from LMDB's applied index, so a crash between the answer and the commit loses nothing;
(c) no read misses an answered write: apply stores the batch's last index in this counter
    *before* it sends the batch's first result, and every read transaction of an api worker
    (stages/apply/reader.py) compares its snapshot's applied index with the counter and waits
    for the commit when it is behind. The store is a memory write in apply; the result leaves
    by a system call after it, and a client's next request (to any worker) comes causally
    after that, so a read that could follow an answer sees the counter at or past it.

The counter is 8 bytes in <data-dir>/run/answered_index, mapped by apply (read-write) and by
the api workers (read-only). It only grows while apply runs; apply sets it to the store's
applied index when it starts. (A snapshot install moves the store past it, which a reader
takes as nothing pending.)

Must never: let a reader see a torn value (a read repeats until two agree), or be stored
after a result has left.
"""
from __future__ import annotations

import mmap
import os
import struct

_U64 = struct.Struct("<Q")
FILE_NAME = "answered_index"


def path_of(run_dir: str) -> str:
    return os.path.join(run_dir, FILE_NAME)


class AnsweredIndex:
    def __init__(self, mm: mmap.mmap) -> None:
        self._mm = mm

    @classmethod
    def create(cls, run_dir: str, index: int) -> AnsweredIndex:
        """apply's side: the file, holding `index` (the store's applied index)."""
        fd = os.open(path_of(run_dir), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, _U64.size)
            counter = cls(mmap.mmap(fd, _U64.size))
        finally:
            os.close(fd)
        counter.publish(index, force=True)
        return counter

    @classmethod
    def open_reader(cls, run_dir: str) -> AnsweredIndex | None:
        """A worker's side (None when apply has not made one: a store read outside a member)."""
        try:
            fd = os.open(path_of(run_dir), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return cls(mmap.mmap(fd, _U64.size, prot=mmap.PROT_READ))
        finally:
            os.close(fd)

    def publish(self, index: int, force: bool = False) -> None:
        """Results up to `index` are about to leave (force: set it, even lower, at start)."""
        if force or index > self.value():
            self._mm[0:_U64.size] = _U64.pack(index)

    def value(self) -> int:
        mm = self._mm
        v = _U64.unpack_from(mm, 0)[0]
        while True:
            again = _U64.unpack_from(mm, 0)[0]
            if again == v:
                return v
            v = again

    def close(self) -> None:
        self._mm.close()
