"""Defragmentation: the store moved to a compacted copy of itself, online.

Theory of operation. LMDB reuses the pages that deletes and compaction free, but its file never
shrinks; etcd's Defragment gives the space back to the file system, and so does this. The
store's directory is `member/db`, a symlink to `member/db.<generation>/`. To defragment, the
apply stage (the only writer) copies the environment, compacted, into the next generation's
directory (LMDB copies inside one read transaction, so the copy is exactly the store as it is,
applied index included), fsyncs it, points `member/db` at it with an atomic rename of a new
symlink, fsyncs the parent directory, and reopens its store there. It then tells every api
worker (StoreMoved, on resultc, before the Applied of anything it applies next), and each one
reopens its reader before it reads further; transport reopens before its next snapshot copy.
The old directory is removed; processes that still have it open keep reading it until they
reopen (Linux keeps an unlinked file while it is mapped).

Writes wait while the copy runs (the apply stage copies between two batches); reads do not, as
api workers read the old file meanwhile. A crash before the rename leaves the old store in
place and a partial copy, which the next start removes; a crash after it finds the new store
complete, since it was fsynced before the rename.

`adopt` runs at the apply stage's start: a data dir whose member/db is a plain directory
(written before generations existed, or by a restore) is moved to generation 0 first.

Must never: point member/db at a copy that is not fsynced, or leave member/db missing.
"""
from __future__ import annotations

import os
import shutil

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


def defragment(store, data_dir: str) -> int:
    """Move `store` (the apply stage's MvccStore, opened at member/db) to a compacted copy of
    itself; returns the new generation."""
    old = db_generation(data_dir)
    new = old + 1
    target = db_generation_dir(data_dir, new)
    if os.path.exists(target):
        shutil.rmtree(target)
    os.makedirs(target)
    store.copy_to_dir(target)
    _fsync_path(os.path.join(target, "data.mdb"))
    _fsync_path(target, directory=True)
    _point_at(data_dir, new)
    store.reopen(db_dir(data_dir))
    shutil.rmtree(db_generation_dir(data_dir, old), ignore_errors=True)
    return new
