"""Everything a seed decides up front: cluster size, Raft knobs, fault rates, phase lengths.

Theory of operation: `Scenario.from_seed(seed)` draws every knob from its own
`random.Random(seed)`, so a seed names one whole run; the run's own randomness (message fates,
disk latencies, client choices) comes from `sim_seed`, also derived from the seed. Nothing here
reads the clock or the environment.

Time is counted in *steps*: a node ticks once every `STEPS_PER_TICK` steps, and message and disk
latencies are a few steps, so several messages and persists fit in one tick, as on a real
network with a 100 ms tick.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

STEPS_PER_TICK = 10
# After the faults stop, the cluster must elect a leader and commit and apply a fresh batch of
# proposals on every member within this many election timeouts.
LIVENESS_ELECTION_TIMEOUTS = 30


@dataclass(frozen=True, slots=True)
class Scenario:
    seed: int
    sim_seed: int
    voters: int
    # Raft configuration
    election_ticks: int
    heartbeat_ticks: int
    pre_vote: bool
    check_quorum: bool
    max_inflight_msgs: int
    max_inflight_bytes: int
    max_size_per_msg_bytes: int
    max_committed_size_per_ready_bytes: int
    max_uncommitted_entries_bytes: int
    disable_proposal_forwarding: bool
    # Restart with Config(applied=<snapshot index>) rather than 0.
    restart_with_applied: bool
    # Let the sender replace a MsgSnap's snapshot with a fresh one at its applied index, as
    # etcd's server does (createMergedSnapshotMessage).
    merge_snapshots: bool
    # Phases, in ticks
    fault_ticks: int
    liveness_ticks: int
    # Network
    net_min_delay: int
    net_max_delay: int
    drop_rate: float
    dup_rate: float
    # Messages that leave their link's FIFO order and arrive much later
    reorder_rate: float
    # Share of lost messages that the transport reports to the sender (report_unreachable)
    unreachable_rate: float
    # Disk and state machine, in steps
    disk_min_delay: int
    disk_max_delay: int
    apply_max_delay: int
    # Clients wait for their proposals: at most this many outstanding at once
    max_outstanding_proposals: int
    # Crashes at the worst moments: right after a node votes (before the vote is durable),
    # right after a node becomes leader (its first entries half replicated), and right after a
    # leader advances its commit index (before the followers learn it).
    crash_after_vote_rate: float
    crash_new_leader_rate: float
    crash_leader_on_commit_rate: float
    # Mean steps between two events of each kind during the fault phase (0: never)
    propose_every: int
    read_every: int
    transfer_every: int
    conf_change_every: int
    crash_every: int
    partition_every: int
    cut_every: int
    compact_every: int

    @classmethod
    def from_seed(cls, seed: int) -> Scenario:
        rng = random.Random(seed)
        election_ticks = rng.choice((8, 10, 10, 12))
        max_inflight = rng.choice((1, 2, 4, 16, 256))
        # One entry per message is allowed only with a deep window, or a follower that lags
        # could not catch up within the liveness bound (a throughput limit, not a bug).
        max_size = rng.choice((1, 64, 256, 4096, 1 << 20) if max_inflight >= 16 else
                              (64, 256, 4096, 1 << 20))
        inflight_bytes = rng.choice((0, 0, max_size * 4))
        calm = rng.random() < 0.15  # a few seeds run with few faults, to test the happy path
        fault_scale = 0.3 if calm else 1.0

        def every(mean_ticks: float) -> int:
            return max(1, int(mean_ticks * STEPS_PER_TICK / fault_scale))

        return cls(
            seed=seed,
            sim_seed=rng.getrandbits(64),
            # A deterministic mix: even seeds run 3 voters, odd seeds 5.
            voters=3 if seed % 2 == 0 else 5,
            election_ticks=election_ticks,
            heartbeat_ticks=1,
            pre_vote=rng.random() < 0.75,
            check_quorum=rng.random() < 0.75,
            max_inflight_msgs=max_inflight,
            max_inflight_bytes=inflight_bytes,
            max_size_per_msg_bytes=max_size,
            max_committed_size_per_ready_bytes=rng.choice((1, 128, 1 << 26)),
            # With a shallow window the leader must refuse proposals beyond what it can
            # replicate (etcd's MaxUncommittedEntriesSize), or the backlog would outlast the
            # liveness bound.
            max_uncommitted_entries_bytes=rng.choice((0, 0, 1024) if max_inflight >= 16 else
                                                     (64, 256, 1024)),
            disable_proposal_forwarding=rng.random() < 0.1,
            restart_with_applied=rng.random() < 0.5,
            merge_snapshots=rng.random() < 0.5,
            fault_ticks=rng.randint(80, 300),
            liveness_ticks=LIVENESS_ELECTION_TIMEOUTS * election_ticks,
            net_min_delay=1,
            net_max_delay=rng.choice((2, 5, 10)),
            drop_rate=0.0 if calm else rng.choice((0.0, 0.02, 0.05, 0.15)),
            dup_rate=0.0 if calm else rng.choice((0.0, 0.02, 0.1)),
            reorder_rate=0.0 if calm else rng.choice((0.0, 0.02, 0.1)),
            unreachable_rate=rng.choice((0.0, 0.5, 1.0)),
            disk_min_delay=1,
            disk_max_delay=rng.choice((2, 6, 15)),
            apply_max_delay=rng.choice((1, 3, 8)),
            max_outstanding_proposals=rng.choice((16, 64, 256)),
            crash_after_vote_rate=0.0 if calm else rng.choice((0.0, 0.05, 0.2)),
            crash_new_leader_rate=0.0 if calm else rng.choice((0.0, 0.1, 0.3)),
            crash_leader_on_commit_rate=0.0 if calm else rng.choice((0.0, 0.01, 0.05)),
            propose_every=rng.choice((4, 8, 15)),
            read_every=rng.choice((10, 30)),
            transfer_every=every(rng.choice((15, 40))),
            conf_change_every=every(rng.choice((10, 20, 40))),
            crash_every=every(rng.choice((20, 40, 80))),
            partition_every=every(rng.choice((20, 40, 80))),
            cut_every=every(rng.choice((30, 80))),
            # Not a fault: it keeps the same pace when the faults stop.
            compact_every=rng.choice((5, 10, 25)) * STEPS_PER_TICK,
        )

    def describe(self) -> str:
        return (f"seed={self.seed} voters={self.voters} election_ticks={self.election_ticks} "
                f"pre_vote={self.pre_vote} check_quorum={self.check_quorum} "
                f"max_inflight={self.max_inflight_msgs}/{self.max_inflight_bytes}B "
                f"max_msg={self.max_size_per_msg_bytes}B "
                f"max_ready_commit={self.max_committed_size_per_ready_bytes}B "
                f"max_uncommitted={self.max_uncommitted_entries_bytes}B "
                f"forwarding={not self.disable_proposal_forwarding} "
                f"merge_snap={self.merge_snapshots} fault_ticks={self.fault_ticks} "
                f"net={self.net_min_delay}..{self.net_max_delay} drop={self.drop_rate} "
                f"dup={self.dup_rate} reorder={self.reorder_rate} "
                f"disk={self.disk_min_delay}..{self.disk_max_delay} "
                f"apply<={self.apply_max_delay} crash_after_vote={self.crash_after_vote_rate} "
                f"crash_new_leader={self.crash_new_leader_rate} "
                f"crash_leader_on_commit={self.crash_leader_on_commit_rate}")
