"""Maintenance.Snapshot: a consistent copy of the store, streamed in chunks as etcd does.

Theory of operation. LMDB copies an environment inside one read transaction, so the copy is
the store as of one applied index and the apply stage keeps writing while it runs. The copy
goes to an anonymous temporary file in the data dir's run/ (gone with the process, whatever
happens) from a worker thread, so this api worker's loop keeps serving; then the file is sent
in etcd's 32 KiB chunks, each with the bytes still to come, and a last chunk holding the
SHA-256 of everything sent (etcd 3.4's maintenance server). etcdctl's restore tells a snapshot
with that digest from a bare file by its size: a multiple of 512 plus 32, which holds because
LMDB's file is whole pages of 4 KiB.

The file is petcd's LMDB store, not etcd's bbolt: `petcdctl snapshot status` and `restore` read
it (docs/compatibility.md).

Must never: block the event loop for the copy, or send a chunk of a copy that was not taken
inside one read transaction.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from typing import AsyncIterator

from petcd.common.cluster import SnapshotResponse

CHUNK_BYTES = 32 * 1024  # etcd's snapshot chunk


async def snapshot(reader, tmp_dir: str, chunk_bytes: int = CHUNK_BYTES) \
        -> AsyncIterator[SnapshotResponse]:
    with tempfile.TemporaryFile(dir=tmp_dir, prefix="snapshot-") as f:
        await asyncio.to_thread(reader.copy_to, f.fileno())
        size = os.fstat(f.fileno()).st_size
        f.seek(0)
        digest = hashlib.sha256()
        sent = 0
        while sent < size:
            blob = f.read(chunk_bytes)
            if not blob:
                raise OSError("snapshot copy shrank while it was read")
            sent += len(blob)
            digest.update(blob)
            yield SnapshotResponse(remaining_bytes=size - sent, blob=blob)
        yield SnapshotResponse(blob=digest.digest())
