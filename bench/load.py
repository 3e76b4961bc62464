"""The load engine under `petcd-bench` and `petcdctl check perf`: many clients, each one
request at a time, over a few connections, optionally rate limited, with a live progress bar.

Theory of operation: etcd's benchmark runs `--clients` goroutines over `--conns` gRPC
connections; here each client is an asyncio task and each connection an AsyncClient. Over
`tcp://` (petcd's native ZeroMQ protocol) a connection carries any number of calls in flight,
so clients share connections round-robin as in etcd. Over `http://` a connection carries one
call at a time (client/http_transport.py), so every client gets its own connection and a
thread to run it on; ask for the native endpoint to measure the server rather than Python's
HTTP client.

A run hands each request to `op(client, i)` and times it; the Results go to report.summarize.
The bar counts requests (or seconds, for timed runs) on stderr, only on a terminal, so
stdout carries nothing but the report.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time

from tqdm import tqdm

from petcd.client import AsyncClient
from petcd.client.endpoints import parse_list
from . import report


class RateLimiter:
    """A token bucket of depth 1 (golang.org/x/time/rate with burst 1, as etcd uses): one
    request every 1/rate seconds, never a burst. rate <= 0 is no limit."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval_s = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._next_s = 0.0

    async def wait(self, deadline_s: float | None = None) -> bool:
        """Wait for this request's turn; False (without waiting) if the turn would come after
        `deadline_s` (time.perf_counter), as rate.Limiter.Wait fails past its context's
        deadline."""
        if not self.interval_s:
            return deadline_s is None or time.perf_counter() < deadline_s
        now = time.perf_counter()
        at = max(now, self._next_s)
        if deadline_s is not None and at > deadline_s:
            return False
        self._next_s = at + self.interval_s
        if at > now:
            await asyncio.sleep(at - now)
        return True


def multiplexes(endpoints) -> bool:
    """Whether one connection carries many calls at once: petcd's native protocol (tcp://)
    and gRPC (grpc://, HTTP/2 streams), not the gateway's HTTP/1.1."""
    return all(ep.scheme in ("tcp", "grpc", "grpcs") for ep in parse_list(endpoints))


@contextlib.asynccontextmanager
async def open_clients(endpoints, conns: int, clients: int, *, timeout_s: float = 30.0,
                       dial_timeout_s: float = 2.0, user: str | None = None, tls=None):
    """A list of `clients` AsyncClients over `conns` connections (see the module doc); each
    connection goes to the next endpoint in turn, as etcd's benchmark dials them."""
    eps = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
    n = max(1, conns) if multiplexes(eps) else max(1, clients)
    name, _, password = (user or "").partition(":")
    made = [AsyncClient(eps[i % len(eps)], timeout_s=timeout_s, dial_timeout_s=dial_timeout_s,
                        user=name if user else None, password=password, tls=tls)
            for i in range(n)]
    loop = asyncio.get_running_loop()
    if not multiplexes(eps):
        # asyncio's default pool has min(32, cpus + 4) threads: too few for one per client.
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=n))
    try:
        yield [made[i % n] for i in range(max(1, clients))]
    finally:
        for c in made:
            await c.close()


def progress_bar(total: int, unit: str, *, rate: bool = True) -> tqdm:
    # disable=None: drawn only when stderr is a terminal (tests and pipes get no bar).
    fmt = None if rate else "{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}]"
    return tqdm(total=total, unit=unit, disable=None, smoothing=0.1, dynamic_ncols=True,
                bar_format=fmt)


def error_text(e: BaseException) -> str:
    return getattr(e, "message", None) or str(e) or type(e).__name__


async def run_total(clients, total: int, op, *, rate_per_s: float = 0.0) -> report.Stats:
    """Send `total` requests, op(client, i) for i in 0..total-1, with every client taking the
    next request as soon as its last one is answered (at most `rate_per_s` a second)."""
    limiter = RateLimiter(rate_per_s)
    results: list[report.Result] = []
    next_i = iter(range(total))
    bar = progress_bar(total, "req")

    async def worker(c) -> None:
        for i in next_i:
            await limiter.wait()
            results.append(await timed(op, c, i))
            bar.update(1)

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    stats = report.summarize(results, time.perf_counter() - start)
    bar.close()
    return stats


async def run_for(clients, duration_s: float, op, *, rate_per_s: float) -> report.Stats:
    """Send requests at `rate_per_s` for `duration_s` (etcdctl check perf's shape); the bar
    counts seconds. Requests in flight at the end are waited for and counted."""
    limiter = RateLimiter(rate_per_s)
    results: list[report.Result] = []
    counter = iter(range(1 << 62))
    bar = progress_bar(int(round(duration_s)), "s", rate=False)
    start = time.perf_counter()
    deadline = start + duration_s

    async def worker(c) -> None:
        while await limiter.wait(deadline):
            results.append(await timed(op, c, next(counter)))

    async def tick() -> None:
        for _ in range(int(round(duration_s))):
            await asyncio.sleep(1.0)
            bar.update(1)

    ticker = asyncio.ensure_future(tick())
    await asyncio.gather(*(worker(c) for c in clients))
    stats = report.summarize(results, time.perf_counter() - start)
    ticker.cancel()
    bar.update(bar.total - bar.n)  # the last tick may not have come: the run is over
    bar.close()
    return stats


async def timed(op, c, i: int) -> report.Result:
    start = time.perf_counter()
    try:
        await op(c, i)
    except Exception as e:  # a failed request is a result too: etcd counts it by message
        return report.Result(start, time.perf_counter(), error_text(e))
    return report.Result(start, time.perf_counter())
