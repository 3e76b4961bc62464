"""The member's resident memory, for /metrics' `process_resident_memory_bytes`.

etcd is one process and exports that process's resident set. A petcd member is a supervisor
and its stage processes, so the honest equivalent is the sum over all of them. Pages that
several stages map (LMDB's file, read by the api workers and written by apply) would count
once per process in plain RSS, so each process contributes its proportional set size (Pss,
from /proc/<pid>/smaps_rollup), which splits shared pages among their sharers; plain RSS is
the fallback where smaps_rollup is missing. Linux only: elsewhere the value is 0, which
tools such as `etcdctl check datascale` report as "could not read".
"""
from __future__ import annotations

import os
from pathlib import Path

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def member_pids(supervisor_pid: int) -> list[int]:
    """The supervisor and its children (the stages; api workers included)."""
    pids = [supervisor_pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if ppid == supervisor_pid:
            pids.append(int(entry))
    return pids


def process_resident_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


def member_resident_bytes(supervisor_pid: int) -> int:
    if not os.path.isdir("/proc"):
        return 0
    return sum(process_resident_bytes(p) for p in member_pids(supervisor_pid))
