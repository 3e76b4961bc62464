"""What the leader knows about one follower's log, and how fast it may send to it.

Theory of operation (after etcd-io/raft's tracker): a follower is in one of three states.
PROBE: the leader does not know where the follower's log ends; it sends one append at a time and
waits for the answer (or a heartbeat response) before the next. REPLICATE: the follower is known
to match up to `match`; the leader streams appends optimistically, bounded by `inflights`.
SNAPSHOT: the follower needs a snapshot; nothing else is sent until it is reported done.

Invariant: match < next. `inflights` holds the last index of every unacknowledged append, in
order, with its size.
"""
from __future__ import annotations

from collections import deque
from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """A bounded window of appends in flight, by count and by bytes."""

    __slots__ = ("max_count", "max_bytes", "_buf", "bytes")

    def __init__(self, max_count: int, max_bytes: int = 0) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._buf: deque[tuple[int, int]] = deque()
        self.bytes = 0

    def add(self, index: int, size_bytes: int) -> None:
        self._buf.append((index, size_bytes))
        self.bytes += size_bytes

    def free_le(self, index: int) -> None:
        buf = self._buf
        while buf and buf[0][0] <= index:
            self.bytes -= buf.popleft()[1]

    def free_first_one(self) -> None:
        if self._buf:
            self.bytes -= self._buf.popleft()[1]

    def full(self) -> bool:
        return len(self._buf) >= self.max_count or (
            self.max_bytes > 0 and self.bytes >= self.max_bytes)

    def count(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self.bytes = 0


class Progress:
    __slots__ = ("match", "next", "state", "pending_snapshot", "recent_active",
                 "msg_app_flow_paused", "inflights", "is_learner")

    def __init__(self, next_index: int, inflights: Inflights, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = False
        self.msg_app_flow_paused = False
        self.inflights = inflights
        self.is_learner = is_learner

    def _reset_state(self, state: ProgressState) -> None:
        self.msg_app_flow_paused = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            # The snapshot may have landed: resume probing after it rather than before.
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def update_on_entries_send(self, entries: int, size_bytes: int, next_index: int) -> None:
        if self.state == ProgressState.REPLICATE:
            if entries:
                last = next_index + entries - 1
                self.next = last + 1
                self.inflights.add(last, size_bytes)
        elif self.state == ProgressState.PROBE:
            # One probe at a time: wait for its answer (or a heartbeat response) before the next.
            self.msg_app_flow_paused = True

    def maybe_update(self, index: int) -> bool:
        """An append up to `index` was acknowledged; False if that is old news."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.msg_app_flow_paused = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """An append at `rejected` was refused; back off toward `match_hint`.

        False when the rejection is stale (an answer to an older append).
        """
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.msg_app_flow_paused = False
        return True

    def is_paused(self) -> bool:
        state = self.state
        if state == ProgressState.REPLICATE:
            return self.inflights.full()
        if state == ProgressState.PROBE:
            return self.msg_app_flow_paused
        return True

    def __repr__(self) -> str:
        s = f"{self.state.name} match={self.match} next={self.next}"
        if self.is_learner:
            s += " learner"
        if self.state == ProgressState.SNAPSHOT:
            s += f" pending_snap={self.pending_snapshot}"
        if self.msg_app_flow_paused:
            s += " paused"
        if self.inflights.count():
            s += f" inflight={self.inflights.count()}"
            if self.inflights.full():
                s += "[full]"
        return s
