"""Run one seed (or a range) of the simulator; `python -m tests.sim.run --seed N -v` replays one.

Theory of operation: `run_seed(seed)` builds the Scenario for the seed, runs a Cluster and
returns a SeedResult; it never raises for a failing seed. The failure text names the seed and
how to replay it. With `trace=True` the run also records a trace hash (same seed, same hash) and
the last trace lines, which a failure report includes.

    python -m tests.sim.run --seed 17 -v      # faults, roles, client ops, conf changes
    python -m tests.sim.run --seed 17 -vv     # ... and every message, persist and apply
    python -m tests.sim.run --seeds 0:500     # a range, with a summary
    SIM_SEED=17 pytest tests/sim              # the same seed under pytest
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from dataclasses import dataclass

from .checks import InvariantViolation
from .cluster import Cluster, SimFailure
from .scenario import Scenario
from .trace import Trace


@dataclass
class SeedResult:
    seed: int
    ok: bool
    error: str = ""
    stats: str = ""
    trace_hash: str = ""
    trace_tail: tuple[str, ...] = ()
    seconds: float = 0.0

    def report(self) -> str:
        if self.ok:
            return f"sim seed {self.seed} ok ({self.seconds:.2f}s) {self.stats}"
        lines = [f"sim seed {self.seed} FAILED: {self.error}",
                 f"  scenario: {Scenario.from_seed(self.seed).describe()}",
                 f"  stats: {self.stats}",
                 f"  replay: SIM_SEED={self.seed} pytest tests/sim",
                 f"      or: python -m tests.sim.run --seed {self.seed} -vv"]
        if self.trace_tail:
            lines.append("  last trace lines:")
            lines += ["    " + line for line in self.trace_tail]
        return "\n".join(lines)


def run_seed(seed: int, verbose: int = 0, trace: bool = False, tail: int = 60) -> SeedResult:
    scenario = Scenario.from_seed(seed)
    tr = Trace(verbose=verbose, keep=tail) if (trace or verbose) else None
    started = time.perf_counter()
    cluster = Cluster(scenario, tr)
    result = SeedResult(seed=seed, ok=True)
    try:
        cluster.run()
    except SimFailure as e:
        result.ok, result.error = False, str(e)
    except InvariantViolation as e:
        result.ok, result.error = False, f"invariant violated at {e}"
    except Exception as e:  # the core raised: a bug unless the simulator misused it
        tb = traceback.format_exc(limit=-6)
        result.ok = False
        result.error = (f"step {cluster.events.now}: unexpected {type(e).__name__}: {e}\n{tb}")
    result.seconds = time.perf_counter() - started
    result.stats = cluster.stats()
    if tr is not None:
        result.trace_hash = tr.hexdigest()
        result.trace_tail = tuple(tr.tail)
    return result


def run_seed_reported(seed: int) -> SeedResult:
    """Run quietly; on failure run again with a trace, for the report (runs are deterministic)."""
    result = run_seed(seed)
    if not result.ok:
        traced = run_seed(seed, trace=True)
        if traced.error != result.error:  # pragma: no cover - would be a determinism bug
            traced.error += f"\n  (NONDETERMINISM: the untraced run failed with: {result.error})"
        return traced
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.sim.run", description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--seed", type=int, help="replay one seed")
    g.add_argument("--seeds", help="run a range of seeds, START:END (END excluded)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: faults, roles, client ops; -vv: every message too")
    args = p.parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head or less

    if args.seed is not None:
        print(Scenario.from_seed(args.seed).describe())
        result = run_seed(args.seed, verbose=args.verbose, trace=True)
        print(result.report())
        print(f"trace hash {result.trace_hash}")
        return 0 if result.ok else 1

    start, end = (int(x) for x in args.seeds.split(":"))
    failed = []
    began = time.perf_counter()
    for seed in range(start, end):
        result = run_seed_reported(seed) if not args.verbose else run_seed(seed, args.verbose)
        if not result.ok:
            failed.append(seed)
            print(result.report(), flush=True)
        elif args.verbose:
            print(result.report(), flush=True)
    print(f"{end - start} seeds, {len(failed)} failed {failed} in "
          f"{time.perf_counter() - began:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
