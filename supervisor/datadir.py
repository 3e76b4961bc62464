"""The member's data directory: its layout, its lock, and a clean run/ for the pipes.

Layout (DESIGN.md 3): member/wal/, member/snap/, member/db/ (LMDB), run/ (ipc sockets, the
config the stages read, the lock). A second supervisor on the same directory is refused, since
two writers would corrupt the WAL and LMDB.
"""
from __future__ import annotations

import fcntl
import json
import os

from petcd.common.config import ConfigError, MemberConfig

LAYOUT_VERSION = 1


class DataDir:
    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.run = os.path.join(self.path, "run")
        self._lock_fd: int | None = None

    def prepare(self) -> None:
        try:
            for sub in ("member/wal", "member/snap", "member/db", "run"):
                os.makedirs(os.path.join(self.path, sub), exist_ok=True)
            probe = os.path.join(self.run, ".write-test")
            with open(probe, "w") as f:
                f.write("ok")
            os.unlink(probe)
        except OSError as e:
            raise ConfigError(f"cannot use data dir {self.path}: {e.strerror}") from None
        self._lock()
        version_file = os.path.join(self.path, "member", "version")
        if os.path.exists(version_file):
            with open(version_file) as f:
                found = f.read().strip()
            if found != str(LAYOUT_VERSION):
                raise ConfigError(f"data dir {self.path} has layout version {found}; "
                                  f"this petcd reads version {LAYOUT_VERSION}")
        else:
            with open(version_file, "w") as f:
                f.write(f"{LAYOUT_VERSION}\n")
        for name in os.listdir(self.run):  # sockets of a previous run that died
            if name.endswith(".sock"):
                os.unlink(os.path.join(self.run, name))

    def _lock(self) -> None:
        fd = os.open(os.path.join(self.run, "petcd.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"data dir {self.path} is in use by another petcd") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def write_config(self, config: MemberConfig) -> str:
        path = os.path.join(self.run, "config.json")
        values = dict(config.values)
        values["data_dir"] = self.path
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(values, f)
        os.replace(tmp, path)
        return path
