"""Latency reports in the shape etcd's benchmark tool and `etcdctl check perf` print.

Theory of operation: a load run hands in one Result per request (start, end, error) and the
run's wall time; `summarize` turns them into a Stats value (frozen, so a report is computed
once and then only read) and `format_report` renders it as etcd 3.4's report text:

    Summary:            Total / Slowest / Fastest / Average / Stddev, "%4.4f secs."
                        Requests/sec
    Response time histogram:   11 buckets from fastest to slowest, bars of up to 40 "∎"
    Latency distribution:      10 25 50 75 90 95 99 99.9 %
    Error distribution:        "[count]\\t<message>", only when some requests failed

The arithmetic is etcd's, because users compare these numbers with etcd's own runs:
- the average and the (population) standard deviation cover successful requests only;
  failed ones are only counted by message;
- Requests/sec is successes divided by the whole run's wall time, not by summed latencies;
- percentile p is the first sorted latency at index i with i*100/n >= p (3.4's rule, so a
  run of 100 requests has no 99.9 % line: an empty percentile is not printed);
- the histogram walks the sorted latencies, advancing a bucket whenever a latency is above
  its upper bound; the first bucket's bound is the fastest latency itself.
This module does no I/O and never reads a clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

PERCENTILES = (10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9)
HISTOGRAM_BUCKETS = 10
BAR_WIDTH = 40
BAR_CHAR = "∎"
DEFAULT_PRECISION = "%4.4f"   # etcd's; --precise switches to Go's shortest %g


@dataclass(frozen=True, slots=True)
class Result:
    start_s: float
    end_s: float
    error: str | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Stats:
    total_s: float
    fastest_s: float
    slowest_s: float
    average_s: float
    stddev_s: float
    requests_per_s: float
    latencies_s: tuple[float, ...]            # successful requests, sorted
    errors: tuple[tuple[str, int], ...] = ()  # (message, count), in order of first sight


def summarize(results, total_s: float) -> Stats:
    lats: list[float] = []
    errors: dict[str, int] = {}
    for r in results:
        if r.error is not None:
            errors[r.error] = errors.get(r.error, 0) + 1
        else:
            lats.append(r.duration_s)
    return stats_of(lats, total_s, tuple(errors.items()))


def stats_of(latencies_s, total_s: float, errors: tuple[tuple[str, int], ...] = ()) -> Stats:
    lats = sorted(latencies_s)
    n = len(lats)
    # With no successes etcd divides 0 by 0 and prints NaN: keep that rather than invent 0.
    average = sum(lats) / n if n else math.nan
    stddev = math.sqrt(sum((x - average) ** 2 for x in lats) / n) if n else math.nan
    return Stats(total_s=total_s, fastest_s=lats[0] if n else 0.0,
                 slowest_s=lats[-1] if n else 0.0, average_s=average, stddev_s=stddev,
                 requests_per_s=n / total_s if total_s > 0 else math.nan,
                 latencies_s=tuple(lats), errors=errors)


def percentiles(sorted_lats) -> tuple[float, ...]:
    """The latency at each of PERCENTILES (0.0 where the run is too short to have one)."""
    data = [0.0] * len(PERCENTILES)
    n, j = len(sorted_lats), 0
    for i in range(n):
        if j == len(PERCENTILES):
            break
        if i * 100.0 / n >= PERCENTILES[j]:
            data[j] = sorted_lats[i]
            j += 1
    return tuple(data)


def histogram(stats: Stats) -> tuple[tuple[float, int], ...]:
    """(upper bound, count) for each bucket, fastest to slowest."""
    step = (stats.slowest_s - stats.fastest_s) / HISTOGRAM_BUCKETS
    bounds = [stats.fastest_s + step * i for i in range(HISTOGRAM_BUCKETS)] + [stats.slowest_s]
    counts = [0] * len(bounds)
    b = 0
    for lat in stats.latencies_s:
        while lat > bounds[b] and b < len(bounds) - 1:
            b += 1
        counts[b] += 1
    return tuple(zip(bounds, counts))


def go_float(fmt: str, x: float) -> str:
    """Go's fmt for one float verb: "%4.4f", "%f" or "%g" (Go's %g is the shortest
    round-trip form, unlike C's six significant digits)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if fmt != "%g":
        return fmt % x
    return go_shortest_g(x)


def go_shortest_g(x: float) -> str:
    if x == 0:
        return "0"
    digits, exp = _shortest_digits(abs(x))
    sign = "-" if x < 0 else ""
    # strconv's shortest 'g' picks the exponent form when exp < -4 or exp >= 6
    # (1e+06, 1.23456789e+08, 1e-05), whatever the number of digits.
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if exp + 1 >= len(digits):
        return f"{sign}{digits}{'0' * (exp + 1 - len(digits))}"
    return f"{sign}{digits[:exp + 1]}.{digits[exp + 1:]}"


def _shortest_digits(x: float) -> tuple[str, int]:
    """The shortest round-trip decimal digits of x > 0 and its decimal exponent."""
    mant, _, e = f"{x:.17e}".partition("e")
    for ndigits in range(1, 18):
        s = f"{x:.{ndigits - 1}e}"
        if float(s) == x:
            mant, _, e = s.partition("e")
            break
    return mant.replace(".", "").rstrip("0") or "0", int(e)


def format_report(stats: Stats, precision: str = DEFAULT_PRECISION) -> str:
    """etcd's report text; it starts with a blank line, as etcd's does."""
    s = ""
    if stats.latencies_s:
        s += format_summary(stats, precision)
        s += format_histogram(histogram(stats), precision)
        s += format_latencies(percentiles(stats.latencies_s), precision)
    if stats.errors:
        s += "\nError distribution:\n"
        s += "".join(f"  [{count}]\t{msg}\n" for msg, count in stats.errors)
    return s


def format_summary(stats: Stats, precision: str = DEFAULT_PRECISION) -> str:
    secs = lambda x: go_float(precision, x) + " secs."  # noqa: E731
    return ("\nSummary:\n"
            f"  Total:\t{secs(stats.total_s)}\n"
            f"  Slowest:\t{secs(stats.slowest_s)}\n"
            f"  Fastest:\t{secs(stats.fastest_s)}\n"
            f"  Average:\t{secs(stats.average_s)}\n"
            f"  Stddev:\t{secs(stats.stddev_s)}\n"
            f"  Requests/sec:\t{go_float(precision, stats.requests_per_s)}\n")


def format_histogram(buckets, precision: str = DEFAULT_PRECISION) -> str:
    top = max((c for _, c in buckets), default=0)
    s = "\nResponse time histogram:\n"
    for bound, count in buckets:
        bar = BAR_CHAR * (count * BAR_WIDTH // top if top else 0)
        s += f"  {go_float(precision, bound)} [{count}]\t|{bar}\n"
    return s


def format_latencies(values, precision: str = DEFAULT_PRECISION) -> str:
    s = "\nLatency distribution:\n"
    for p, v in zip(PERCENTILES, values):
        if v > 0:
            s += f"  {p:g}% in {go_float(precision, v)} secs.\n"
    return s
