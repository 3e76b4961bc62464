"""Auto-compaction (--auto-compaction-mode/--auto-compaction-retention), as etcd 3.4 does it.

periodic: every tenth of the retention period, remember the current revision; compact to the
revision remembered one whole period ago. With retention "10h" the first compaction comes after
10 hours, then one every hour. revision: every 5 minutes, compact to current - retention.

Only the leader compacts (a compaction is a proposal every member applies), so a cluster does
not compact once per member. Errors (already compacted, no leader) are simply retried next
time.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque

from petcd.common.errors import EtcdError
from .auth_service import internal
from petcd.common.kv import CompactionRequest

log = logging.getLogger("petcd.api")

REVISION_MODE_INTERVAL_S = 300.0
class Compactor:
    def __init__(self, service, mode: str, retention: float, is_leader) -> None:
        self.service = service
        self.mode = mode
        self.retention = retention
        self.is_leader = is_leader

    async def run(self) -> None:
        if self.retention <= 0:
            return
        if self.mode == "periodic":
            await self._periodic()
        else:
            await self._revision()

    async def _periodic(self) -> None:
        interval = self.retention / 10
        samples: deque[int] = deque(maxlen=11)
        while True:
            samples.append(self.service.applied.revision)
            if len(samples) == samples.maxlen:
                await self._compact(samples[0])
            await asyncio.sleep(interval)

    async def _revision(self) -> None:
        while True:
            await asyncio.sleep(REVISION_MODE_INTERVAL_S)
            await self._compact(self.service.applied.revision - int(self.retention))

    async def _compact(self, revision: int) -> None:
        if revision <= 0 or not self.is_leader():
            return
        try:
            with internal():  # the member's own compaction: no user to check
                await self.service.compact(CompactionRequest(revision=revision))
            log.info("auto-compacted at revision %d", revision)
        except EtcdError:
            pass
