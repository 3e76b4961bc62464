"""One robustness run, driven by one seed: start, load, one fault, heal, check.

Theory of operation (etcd's robustness procedure, reference/reliability-testing.md 1.1): the
seed picks the cluster's timing knobs, the fault and every random choice after it. Traffic
runs about a second, the fault is injected (it heals itself before it returns), traffic runs
another second and stops. Then the run needs one more write to succeed (liveness), every
watcher to reach that write, and every member to agree on HashKV at its revision. Last, the
history is checked: linearizability of all client operations, then every watch stream, then
serializable reads. A failing run saves everything needed to look at it (the raw history,
the watch streams, the members' logs) in its report directory and says where.

A secure run (secure=True, secure.py) does all of that with TLS on the client URLs and auth
on: the same seed draws the same choices as without, and the seed's cluster gets its users
before the first client request.
"""
from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import faults as fault_mod
from .cluster import Cluster
from .traffic import Traffic, RawOp, b64
from .history import save as save_history
from .history_of import history_of
from .secure import Security
from .verify import verify
from .watchers import start_watchers

MIN_QPS = 20          # below this before the fault, the run proves little: it is an error
LIVENESS_TIMEOUT_S = 15.0
TIMINGS = ((50, 500), (100, 1000))       # heartbeat, election (ms)
SNAPSHOTS = ((100, 100), (10_000, 5_000))  # snapshot-count, catch-up entries


@dataclass(frozen=True)
class RunConfig:
    seed: int
    size: int = 3
    workload: str = "etcd"
    kind: str = "petcd"
    fault: str | None = None       # None: drawn from the seed
    traffic_s: float = 1.0
    secure: bool = False           # TLS on the client URLs and auth on (secure.py)

    def describe(self) -> str:
        return (f"seed={self.seed} kind={self.kind} size={self.size} workload={self.workload} "
                f"fault={self.fault or 'random'}{' secure' if self.secure else ''}")


@dataclass
class RunResult:
    config: RunConfig
    fault: str = ""
    operations: int = 0
    watch_events: int = 0
    qps: float = 0.0
    problems: list[str] = field(default_factory=list)
    report_dir: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (f"{'PASS' if self.ok else 'FAIL'} {self.config.describe()}: {self.fault}; "
                f"{self.operations} operations, {self.watch_events} watch events, "
                f"{self.qps:.0f} ops/s before the fault")
        if self.ok:
            return head
        return "\n".join([head, *("  - " + p for p in self.problems),
                          f"  report: {self.report_dir}"])


def run(cfg: RunConfig, report_root: Path | None = None) -> RunResult:
    rng = random.Random(cfg.seed)
    result = RunResult(cfg)
    heartbeat, election = rng.choice(TIMINGS)
    snapshot_count, catch_up = rng.choice(SNAPSHOTS)
    candidates = fault_mod.applicable(cfg.kind, cfg.size)
    fault = fault_mod.by_name(cfg.fault) if cfg.fault else rng.choice(candidates)
    workdir = Path(tempfile.mkdtemp(prefix=f"petcd-robustness-{cfg.seed}-"))
    security = Security(workdir / "tls") if cfg.secure else None
    cluster = Cluster(cfg.kind, cfg.size, workdir, heartbeat, election, snapshot_count,
                      catch_up, security)
    traffic = watchers = None
    extra_ops: list[RawOp] = []
    try:
        cluster.start()
        traffic = Traffic(cluster.urls(), cfg.workload, rng, security=security)
        traffic.start()
        start = time.monotonic()
        while traffic.max_revision() == 0 and time.monotonic() - start < LIVENESS_TIMEOUT_S:
            time.sleep(0.01)
        watchers = start_watchers(cluster.ports(), traffic.max_revision(), rng,
                                  security=security)
        time.sleep(cfg.traffic_s + rng.uniform(-0.2, 0.2))
        result.qps = traffic.count() / (time.monotonic() - start)
        if result.qps < MIN_QPS:
            result.problems.append(f"only {result.qps:.0f} ops/s before the fault "
                                   f"(minimum {MIN_QPS})")
        result.fault = f"{fault.name}: {fault.inject(cluster, rng)}"
        time.sleep(cfg.traffic_s + rng.uniform(-0.2, 0.2))
        traffic.stop()
        tombstone = _tombstone(cluster, extra_ops, result)
        if tombstone is not None:
            for w in watchers:
                if not w.finish(tombstone, LIVENESS_TIMEOUT_S):
                    result.problems.append(f"watcher {w.watcher_id} did not see revision "
                                           f"{tombstone} within {LIVENESS_TIMEOUT_S:.0f} s "
                                           f"(last {w.last_revision})")
            _end_state(cluster, tombstone, result)
            _final_reads(cluster, extra_ops)
    except Exception as e:  # the run itself broke: a finding too, with the report saved
        where = next(f for f in reversed(traceback.extract_tb(e.__traceback__))
                     if "robustness" in f.filename)
        result.problems.append(f"run error: {type(e).__name__}: {e} (at {where.filename}:"
                               f"{where.lineno})")
    finally:
        if traffic is not None:
            traffic.stop()
        for w in watchers or ():
            w.stop()
        logs = cluster.logs()
        cluster.stop()
    ops = (traffic.operations() if traffic else []) + extra_ops
    streams = [s for w in watchers or () for s in w.streams]
    result.operations = len(ops)
    result.watch_events = sum(len(r.get("events", [])) for s in streams for _, r in s.responses)
    history = history_of(ops, streams)
    if not any(p.startswith("run error") for p in result.problems):
        result.problems += verify(history)
    result.problems += _log_problems(logs)
    if not result.ok:
        result.report_dir = str(_save(report_root, cfg, result, history, logs))
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _tombstone(cluster: Cluster, extra_ops: list[RawOp], result: RunResult) -> int | None:
    """One last write must succeed after the fault healed (C7); it is part of the history."""
    deadline = time.monotonic() + LIVENESS_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        for m in cluster.members:
            body = {"key": b64("key0"), "value": b64("tombstone")}
            op = RawOp(0, m.name, "/v3/kv/put", body, time.monotonic_ns())
            try:
                status, doc = cluster.post(m, "/v3/kv/put", body)
            except ConnectionRefusedError as e:
                last = str(e)  # never sent: not part of the history
                continue
            except (OSError, ValueError) as e:
                op.error, last = str(e), str(e)
                extra_ops.append(op)
                continue
            op.return_ns, op.status, op.answer = time.monotonic_ns(), status, doc
            extra_ops.append(op)
            if status == 200:
                return int(doc["header"]["revision"])
            op.error = last = str(doc)
        time.sleep(0.1)
    result.problems.append(f"no write succeeded within {LIVENESS_TIMEOUT_S:.0f} s after the "
                           f"fault healed (last error: {last})")
    return None


def _end_state(cluster: Cluster, revision: int, result: RunResult) -> None:
    """Every member: the same HashKV and compact revision at the tombstone's revision (C5)."""
    deadline = time.monotonic() + LIVENESS_TIMEOUT_S
    while True:
        hashes = {m.name: cluster.hash_kv(m, revision) for m in cluster.members}
        if all(isinstance(h, tuple) for h in hashes.values()) and \
                len(set(hashes.values())) == 1:
            return
        if time.monotonic() > deadline:
            result.problems.append(f"members disagree at revision {revision}: {hashes}")
            return
        time.sleep(0.1)


def _final_reads(cluster: Cluster, extra_ops: list[RawOp]) -> None:
    """A linearizable read of every key on every member, after the heal: each acknowledged
    write must be there, or overwritten by a later one (C6; the checker decides)."""
    body = {"key": b64("key"), "range_end": b64("kez")}
    for m in cluster.members:
        op = RawOp(0, m.name, "/v3/kv/range", body, time.monotonic_ns())
        try:
            status, doc = cluster.post(m, "/v3/kv/range", body, timeout_s=5.0)
            op.return_ns, op.status, op.answer = time.monotonic_ns(), status, doc
        except (OSError, ValueError) as e:
            op.error = str(e)
        extra_ops.append(op)


def _log_problems(logs: dict[str, str]) -> list[str]:
    """C8: a traceback in a member's log is a bug even when the history is fine."""
    return [f"traceback in {name}'s log" for name, text in logs.items() if "Traceback" in text]


def _save(root: Path | None, cfg: RunConfig, result: RunResult, history, logs) -> Path:
    root = root or Path(tempfile.gettempdir()) / "petcd-robustness-reports"
    out = root / f"seed-{cfg.seed}-{cfg.kind}-{cfg.size}-{cfg.workload}" \
        f"{'-secure' if cfg.secure else ''}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps({
        "config": cfg.__dict__, "fault": result.fault, "problems": result.problems}, indent=1))
    # Re-check with: history.load(out / "history.json") and validate.validate(...).
    save_history(history, out / "history.json")
    for name, text in logs.items():
        (out / f"{name}.log").write_text(text)
    return out
