"""Durability primitives shared by the WAL and the snapshotter.

Theory of operation: a write is durable only once its data is synced AND the directory entry
that names it is synced. These helpers are the only places that know the POSIX details:
fsync of a directory, preallocation with a fallback, and a write loop that never silently
writes less than asked. They never swallow an I/O error.
"""
from __future__ import annotations

import errno
import os


def fsync_dir(path: str | os.PathLike) -> None:
    """Make creations, renames and removals in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def preallocate(fd: int, size: int) -> None:
    """Reserve `size` bytes (zero-filled) so appends do not allocate blocks under fdatasync.

    posix_fallocate never shrinks a file. Where the filesystem does not support it, fall back to
    ftruncate (a sparse file still reads as zeros, which is all the decoder relies on).
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write all of `data` at `offset` (os.pwrite may write less than asked)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.EIO, "pwrite wrote nothing")
        view = view[n:]
        offset += n
