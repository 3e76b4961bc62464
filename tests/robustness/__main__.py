"""`python -m tests.robustness --seed N [--count K] ...`: robustness runs from the shell.

Each run uses one seed (seed, seed+1, ...); its line says PASS or FAIL, what fault it
injected and how many operations were checked; a failure names its report directory, and
the same seed replays the same choices. The totals at the end are what the README records.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .faults import FAULTS
from .run import RunConfig, run
from .traffic import WORKLOADS


@click.command()
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--count", type=int, default=1, show_default=True, help="runs, seeds seed..")
@click.option("--size", type=click.Choice(["1", "3"]), default="3", show_default=True)
@click.option("--workload", type=click.Choice(sorted(WORKLOADS)), default="etcd",
              show_default=True)
@click.option("--kind", type=click.Choice(["petcd", "etcd"]), default="petcd",
              show_default=True)
@click.option("--fault", type=click.Choice([f.name for f in FAULTS]), default=None,
              help="default: drawn from the seed")
@click.option("--secure", is_flag=True, help="TLS on the client URLs and auth on")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None)
@click.option("--fail-fast", is_flag=True)
def main(seed, count, size, workload, kind, fault, secure, report_dir, fail_fast) -> None:
    runs = failed = ops = events = 0
    faults: dict[str, int] = {}
    started = time.monotonic()
    for s in range(seed, seed + count):
        result = run(RunConfig(s, int(size), workload, kind, fault, secure=secure), report_dir)
        click.echo(result.summary())
        runs += 1
        ops += result.operations
        events += result.watch_events
        name = result.fault.split(":", 1)[0] or "none"
        faults[name] = faults.get(name, 0) + 1
        if not result.ok:
            failed += 1
            if fail_fast:
                break
    click.echo(f"{runs} runs, {failed} failed, {ops} operations and {events} watch events "
               f"checked, faults: {dict(sorted(faults.items()))}, "
               f"{time.monotonic() - started:.0f} s")
    sys.exit(1 if failed else 0)


main()
