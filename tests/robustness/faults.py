"""The faults of a robustness run: one is injected per run (reference/reliability-testing.md
6.1). Each fault injects, waits, heals, and returns a line saying what it did.

A fault that stops a member always restarts it, so the run can check that the member came
back and agrees with the others. Network faults exist only where there are proxies (petcd
with 3 members); etcd runs draw from the process faults alone.
"""
from __future__ import annotations

import random
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Callable

from petcd.common.failpoint import CATALOG
from tests.integration.proxy import LinkProxy
from .cluster import Cluster

STAGES = ("api", "raft", "wal", "transport", "apply")
# Failpoints a short run reaches: on every write, or on a read (watch). The others (snapshot,
# compaction, release) need their own triggers and run in the slow matrix. A follower's append
# answers leave from wal (wal.before_send), not raft: raft.before_follower_send is reached by
# its heartbeat answers and forwarded proposals.
HOT_FAILPOINTS = ("wal.before_write", "wal.before_fsync", "wal.after_fsync", "wal.before_send",
                  "raft.before_save",
                  "raft.after_save", "raft.before_leader_send", "raft.before_follower_send",
                  "apply.before_commit", "apply.after_commit", "watch.before_send")
PANIC_WAIT_S = 5.0


@dataclass(frozen=True)
class Fault:
    name: str
    kinds: tuple[str, ...]     # systems it applies to
    min_size: int
    inject: Callable[[Cluster, random.Random], str]
    # Drawn by a seed, or only asked for by name. New faults are by name, so that a seed goes
    # on replaying the fault it found a bug with.
    drawn: bool = True


def _target(c: Cluster, rng: random.Random) -> tuple:
    if c.size == 1:
        return c.members[0], "the only member"
    leader = c.leader()
    if rng.random() < 0.5:
        return leader, f"leader {leader.name}"
    m = rng.choice([m for m in c.members if m is not leader])
    return m, f"follower {m.name}"


def kill_member(c: Cluster, rng: random.Random) -> str:
    m, who = _target(c, rng)
    c.kill(m)
    time.sleep(rng.uniform(0, 0.5))
    c.restart(m)
    return f"kill -9 of {who}, restarted"


def kill_stage(c: Cluster, rng: random.Random) -> str:
    m, who = _target(c, rng)
    stage = rng.choice(STAGES)
    c.kill_stage(m, stage)
    c.restart(m)
    return f"kill -9 of the {stage} stage of {who}, member restarted"


def kill_all(c: Cluster, rng: random.Random) -> str:
    """Every member at once (F11): only what each fsynced survives, and the cluster must
    come back with every acknowledged write."""
    for m in c.members:
        c.kill(m)
    time.sleep(rng.uniform(0, 0.5))
    c.restart_all()
    return f"kill -9 of all {len(c.members)} members at once, restarted"


def replace_member(c: Cluster, rng: random.Random) -> str:
    """F9: remove a follower under load, wipe its data, add it back as a new member and start
    it with --initial-cluster-state existing; it must catch up and agree with the others."""
    leader = c.leader()
    m = rng.choice([x for x in c.members if x is not leader])
    old_id = c.member_id(leader, m.name)
    c.admin(leader, "/v3/cluster/member/remove", {"ID": str(old_id)})
    if not c.wait_exit(m, 30.0):  # a removed member stops by itself
        c.kill(m)
    shutil.rmtree(m.data_dir)
    added = c.admin(leader, "/v3/cluster/member/add", {"peerURLs": [m.peer_url]})
    m.extra_args = (*m.extra_args, "--initial-cluster-state", "existing")
    c.restart(m)
    return (f"follower {m.name} removed, wiped and added back as member "
            f"{int(added['member']['ID']):x}")


def failpoint_panic(c: Cluster, rng: random.Random) -> str:
    name = rng.choice([n for n in HOT_FAILPOINTS if not (c.size == 1 and "send" in n
                                                          and "watch" not in n)])
    return _panic_at(c, rng, name)


def lose_unsynced(c: Cluster, rng: random.Random) -> str:
    """A crash that also loses what the WAL wrote but had not synced (F4): kill -9 alone
    never tests an fsync, because the page cache survives it."""
    return _panic_at(c, rng, "wal.lose_unsynced")


def _panic_at(c: Cluster, rng: random.Random, name: str) -> str:
    m, who = _target(c, rng)
    skip = rng.randint(0, 20)
    term = f"{skip}*off->panic" if skip else "panic"
    status = c.failpoint(m, name, term)
    if status != 204:
        raise RuntimeError(f"arming {name} on {m.name}: HTTP {status}")
    if c.wait_crash(m, PANIC_WAIT_S):
        c.restart(m)
        return f"failpoint {name}={term} on {who}: crashed, restarted"
    c.failpoint(m, name, None)
    return f"failpoint {name}={term} on {who}: not reached in {PANIC_WAIT_S} s"


def failpoint_sleep(c: Cluster, rng: random.Random) -> str:
    m, who = _target(c, rng)
    name = rng.choice(HOT_FAILPOINTS)
    c.failpoint(m, name, "sleep(1000)")
    time.sleep(1.5)
    c.failpoint(m, name, None)
    return f"failpoint {name}=sleep(1000) on {who} for 1.5 s"


def pause_member(c: Cluster, rng: random.Random) -> str:
    m, who = _target(c, rng)
    pause_s = rng.uniform(1.0, 3.0)
    c.signal_member(m, signal.SIGSTOP)
    time.sleep(pause_s)
    c.signal_member(m, signal.SIGCONT)
    return f"SIGSTOP of {who} for {pause_s:.1f} s, then SIGCONT"


def _hold(links, act, rng: random.Random) -> float:
    """act(link) on every link, wait 1 to 2.5 s, heal them; the time held."""
    held_s = rng.uniform(1.0, 2.5)
    for p in links:
        act(p)
    time.sleep(held_s)
    for p in links:
        p.heal()
    return held_s


def partition(c: Cluster, rng: random.Random) -> str:
    m, who = _target(c, rng)
    held_s = _hold(c.links_of(m.name), LinkProxy.cut, rng)
    return f"{who} cut off from its peers for {held_s:.1f} s"


def one_way_cut(c: Cluster, rng: random.Random) -> str:
    m, who = _target(c, rng)
    inbound = rng.random() < 0.5
    links = c.links_of(m.name, inbound=inbound, outbound=not inbound)
    held_s = _hold(links, LinkProxy.cut, rng)
    return f"links {'to' if inbound else 'from'} {who} cut for {held_s:.1f} s"


def stall_links(c: Cluster, rng: random.Random) -> str:
    m, who = _target(c, rng)
    held_s = _hold(c.links_of(m.name), LinkProxy.pause, rng)
    return f"links of {who} stalled for {held_s:.1f} s, then released in a burst"


def delay_links(c: Cluster, rng: random.Random) -> str:
    for p in c.proxies.values():
        p.delay_s, p.jitter_s = 0.075, 0.050
    time.sleep(1.0)
    for p in c.proxies.values():
        p.heal()
    return "every peer link delayed 75 ± 50 ms for 1 s"


FAULTS: tuple[Fault, ...] = (
    Fault("kill_member", ("petcd", "etcd"), 1, kill_member),
    Fault("kill_stage", ("petcd",), 1, kill_stage),
    Fault("failpoint_panic", ("petcd",), 1, failpoint_panic),
    Fault("failpoint_sleep", ("petcd",), 1, failpoint_sleep),
    Fault("lose_unsynced", ("petcd",), 1, lose_unsynced),
    Fault("pause_member", ("petcd", "etcd"), 1, pause_member),
    Fault("partition", ("petcd",), 3, partition),
    Fault("one_way_cut", ("petcd",), 3, one_way_cut),
    Fault("stall_links", ("petcd",), 3, stall_links),
    Fault("delay_links", ("petcd",), 3, delay_links),
    Fault("kill_all", ("petcd", "etcd"), 1, kill_all, drawn=False),
    Fault("replace_member", ("petcd", "etcd"), 3, replace_member, drawn=False),
)


def applicable(kind: str, size: int) -> list[Fault]:
    return [f for f in FAULTS if f.drawn and kind in f.kinds and size >= f.min_size]


def by_name(name: str) -> Fault:
    return next(f for f in FAULTS if f.name == name)


assert set(HOT_FAILPOINTS) <= set(CATALOG)
