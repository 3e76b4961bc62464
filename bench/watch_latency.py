"""`petcd-bench watch-latency`: the time from a put's answer to its event at every watcher.

As etcd's: `--clients` watchers on one random key; `--total` puts of that key at most
`--put-rate` a second, one at a time; after each put is answered, every watcher's next
event is awaited and its latency is counted from the put's answer (an event that arrived
before the answer counts as 0), so the report has clients x total results.

Puts and watches go through the chosen endpoints: native watch streams over tcp:// (all
watchers multiplexed on one connection), the gateway's watch stream over http://.
"""
from __future__ import annotations

import os
import queue
import time

import click

from petcd.client import Client
from . import load, report
from .benchmark import benchmark, global_options, settings

EVENT_TIMEOUT_S = 30.0


@benchmark.command("watch-latency")
@global_options
@click.option("--total", default=10000, help="Total number of put requests")
@click.option("--put-rate", default=100, help="Number of keys to put per second")
@click.option("--key-size", default=32, help="Key size of watch response")
@click.option("--val-size", default=32, help="Value size of watch response")
@click.pass_context
def watch_latency(ctx, total, put_rate, key_size, val_size, **g):
    """Benchmark watch latency"""
    s = settings(ctx, g)
    key, value = os.urandom(key_size), os.urandom(val_size)
    put_client = Client(s.endpoints, timeout_s=30, dial_timeout_s=s.dial_timeout_s)
    watch_client = Client(s.endpoints, timeout_s=30, dial_timeout_s=s.dial_timeout_s)
    arrivals: list[queue.SimpleQueue] = []
    watches = []
    try:
        for _ in range(max(1, s.clients)):
            q: queue.SimpleQueue = queue.SimpleQueue()
            w = watch_client.watch(key)
            w.start_callback(lambda r, q=q: [q.put(time.perf_counter()) for _ in r.events],
                             on_error=lambda e, q=q: q.put(e))
            arrivals.append(q)
            watches.append(w)
        for w in watches:
            w.created.wait(EVENT_TIMEOUT_S)
        stats = _measure(put_client, key, value, total, put_rate, arrivals)
    finally:
        for w in watches:
            w.cancel()
        watch_client.close()
        put_client.close()
    click.echo(report.format_report(stats, s.precision), nl=False)


def _measure(put_client, key, value, total, put_rate, arrivals) -> report.Stats:
    results: list[report.Result] = []
    bar = load.progress_bar(total, "put")
    interval_s = 1.0 / put_rate if put_rate > 0 else 0.0
    start = next_at = time.perf_counter()
    for _ in range(total):
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing the puts is the point here, not waiting on an event
        next_at = max(next_at + interval_s, time.perf_counter())
        put_client.put(key, value)
        answered = time.perf_counter()
        for q in arrivals:
            got = q.get(timeout=EVENT_TIMEOUT_S)
            if isinstance(got, BaseException):
                raise got
            results.append(report.Result(answered, max(got, answered)))
        bar.update(1)
    stats = report.summarize(results, time.perf_counter() - start)
    bar.close()
    return stats

