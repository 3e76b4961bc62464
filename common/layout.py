"""Where a member keeps what on disk (DESIGN.md 3): one place, so stages agree on paths.

    <data-dir>/member/wal/                 the WAL segments (wal)
    <data-dir>/member/snap/*.snap          raft snapshot metadata files (wal)
    <data-dir>/member/snap/<index>.snap.db a whole LMDB store received from the leader
                                           (written by transport, installed by apply)
    <data-dir>/member/db/                  the LMDB environment (apply; read by api, transport):
                                           a symlink to member/db.<generation>/, which a
                                           defragmentation replaces (stages/apply/defrag.py)
    <data-dir>/member/identity.json        member and cluster ids (supervisor; read by all)
    <data-dir>/run/                        ipc sockets and the resolved config
"""
from __future__ import annotations

import os
import re

SNAP_DB_SUFFIX = ".snap.db"
_SNAP_DB = re.compile(r"^([0-9a-f]{16})\.snap\.db$")


def wal_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "member", "wal")


def snap_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "member", "snap")


def db_dir(data_dir: str) -> str:
    return os.path.join(data_dir, "member", "db")


def db_generation_dir(data_dir: str, generation: int) -> str:
    """The directory of one generation of the store; member/db points to the current one."""
    return os.path.join(data_dir, "member", f"db.{generation}")


def db_generation(data_dir: str) -> int:
    """The generation member/db points to (-1: member/db is a plain directory, or missing)."""
    try:
        target = os.readlink(db_dir(data_dir))
    except OSError:
        return -1
    m = re.fullmatch(r"db\.(\d+)", target)
    return int(m.group(1)) if m else -1


def identity_path(data_dir: str) -> str:
    return os.path.join(data_dir, "member", "identity.json")


def snapshot_db_path(data_dir: str, index: int) -> str:
    """etcd's name for a received store: `%016x.snap.db` by the raft snapshot's index."""
    return os.path.join(snap_dir(data_dir), f"{index:016x}{SNAP_DB_SUFFIX}")


def snapshot_dbs(data_dir: str) -> list[tuple[int, str]]:
    """Every complete received store, as (index, path), oldest first."""
    try:
        names = os.listdir(snap_dir(data_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        m = _SNAP_DB.match(name)
        if m:
            found.append((int(m.group(1), 16), os.path.join(snap_dir(data_dir), name)))
    return sorted(found)
