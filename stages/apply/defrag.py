"""Defragmentation: the store moved to a compacted copy of itself, online.

Theory of operation. LMDB reuses the pages that deletes and compaction free, but its file never
shrinks; etcd's Defragment gives the space back to the file system, and so does this. The
store's directory is `member/db`, a symlink to `member/db.<generation>/`. Defragmenting has
two parts:

1. `BackgroundCopy`: between two batches, the apply stage (the only writer) begins a read
   transaction and hands it to a thread, which copies what it sees, compacted, into the next
   generation's directory. The copy is the store exactly as of that point, applied index
   included. Meanwhile the apply stage goes on applying batches to the store as usual (clients
   see no stall) and keeps those batches; it only holds back physical compaction steps, which
   are not entries and so could not be replayed.
2. `finish`, once the thread is done, between two batches again: the kept batches are applied
   to the copy too (applying is deterministic: the same entries on the same state give the
   same state; a throwaway Applier does it, so nothing is answered or announced twice), the
   copy is fsynced, `member/db` is pointed at it by an atomic rename of a new symlink, the
   parent directory is fsynced, and the store reopens there. Every api worker is then told
   (StoreMoved, on resultc, before the Applied of anything applied next) and reopens its
   reader before it reads further; transport reopens before its next snapshot copy. The old
   directory is removed, on a thread of its own; a process that still has it open reads it
   until it reopens (Linux
   keeps an unlinked file while it is mapped). Writes wait only for the replay of the batches
   kept during the copy.

A crash before the rename leaves the old store in place and a partial copy, which the next
start removes; a crash after it finds the new store complete, since it was fsynced before
the rename.

`adopt` runs at the apply stage's start: a data dir whose member/db is a plain directory
(written before generations existed, or by a restore) is moved to generation 0 first.

Must never: point member/db at a copy that is not fsynced, or leave member/db missing.
"""
from __future__ import annotations

import os
import shutil
import threading
from typing import Callable

import zmq

from petcd.common.layout import db_dir, db_generation, db_generation_dir


def _fsync_path(path: str, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _point_at(data_dir: str, generation: int) -> None:
    """Make member/db a symlink to db.<generation>, atomically, and make that durable."""
    link = db_dir(data_dir)
    tmp = link + ".link"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.basename(db_generation_dir(data_dir, generation)), tmp)
    os.replace(tmp, link)
    _fsync_path(os.path.dirname(link), directory=True)


def adopt(data_dir: str) -> int:
    """Bring member/db to the generation layout; remove what is not the current generation
    (a partial copy, or an old generation a crash left). Returns the current generation."""
    link = db_dir(data_dir)
    member = os.path.dirname(link)
    os.makedirs(member, exist_ok=True)
    generation = db_generation(data_dir)
    if generation < 0:
        zero = db_generation_dir(data_dir, 0)
        if os.path.isdir(link) and not os.path.islink(link):
            if os.path.exists(zero):
                shutil.rmtree(zero)
            os.rename(link, zero)
        else:
            os.makedirs(zero, exist_ok=True)  # a new member (or a crash between the two)
        _fsync_path(member, directory=True)
        _point_at(data_dir, 0)
        generation = 0
    current = os.path.basename(db_generation_dir(data_dir, generation))
    for name in os.listdir(member):
        if name.startswith("db.") and name[3:].isdigit() and name != current:
            shutil.rmtree(os.path.join(member, name), ignore_errors=True)
    return generation


class BackgroundCopy:
    """A compacted copy of the store being made on a thread; `done_socket` becomes readable
    when it is over (then call `finish`)."""

    def __init__(self, store, data_dir: str, zctx: zmq.Context) -> None:
        self.store = store
        self.data_dir = data_dir
        self.generation = db_generation(data_dir) + 1
        self.path = db_generation_dir(data_dir, self.generation)
        if os.path.exists(self.path):
            shutil.rmtree(self.path)
        os.makedirs(self.path)
        self.batches: list = []          # applied to the store since the copy's transaction
        self.removing: threading.Thread | None = None  # of the old generation, once done
        self.error: Exception | None = None
        address = f"inproc://defrag-{id(self)}"
        self.done_socket = zctx.socket(zmq.PAIR)
        self.done_socket.bind(address)
        self._done_tx = zctx.socket(zmq.PAIR)
        self._done_tx.connect(address)
        txn = store.copy_txn()  # now, on the writer's thread, between two batches
        self._thread = threading.Thread(target=self._copy, args=(txn,), daemon=True,
                                        name="defrag-copy")
        self._thread.start()

    def _copy(self, txn) -> None:
        try:
            self.store.copy_rows(txn, self.path)
        except Exception as e:  # reported to the loop, never raised in the thread
            self.error = e
        finally:
            txn.abort()
            self._done_tx.send(b"")

    def record(self, batches: list) -> None:
        """Batches the writer applied after the copy's transaction: replayed on the copy."""
        self.batches.extend(batches)

    def wait(self) -> None:
        self._thread.join()

    def close(self) -> None:
        self.done_socket.close(linger=0)
        self._done_tx.close(linger=0)

    def discard(self) -> None:
        self.wait()
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def finish(self, replay: Callable[[object, list], None]) -> int:
        """Bring the copy up to date with replay(copy, batches), put it in the store's place
        and reopen the store there; returns the new generation. On an error the store is
        left as it was."""
        self.wait()
        self.close()
        if self.error is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            raise self.error
        copy = type(self.store).open(self.path, **self.store.open_args)
        try:
            replay(copy, self.batches)
        except BaseException:
            copy.close()
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        copy.close()
        _fsync_path(os.path.join(self.path, "data.mdb"))
        _fsync_path(self.path, directory=True)
        old = db_generation(self.data_dir)
        _point_at(self.data_dir, self.generation)
        self.store.reopen(db_dir(self.data_dir))
        # Unlinking a file of gigabytes takes the file system a while: not on the writer's
        # thread (a crash before it is done leaves the old directory to adopt()).
        self.removing = threading.Thread(
            target=shutil.rmtree, daemon=True, name="defrag-remove",
            args=(db_generation_dir(self.data_dir, old),), kwargs={"ignore_errors": True})
        self.removing.start()
        return self.generation
