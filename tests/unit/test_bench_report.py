"""bench/report.py against etcd's benchmark report: the text layout byte for byte (a recorded
etcd 3.4 run), and the arithmetic (3.4's percentile rule, the histogram walk, Go's floats)."""
from __future__ import annotations

import math

from petcd.bench import report as r

# `benchmark range 100` against etcd 3.4.9, as the tool printed it (a public benchmark log of
# kine vs etcd). The report begins with a blank line and range prints no extra newline.
ETCD_3_4_RANGE = (
    "\nSummary:\n"
    "  Total:\t3.9830 secs.\n"
    "  Slowest:\t0.0133 secs.\n"
    "  Fastest:\t0.0002 secs.\n"
    "  Average:\t0.0004 secs.\n"
    "  Stddev:\t0.0003 secs.\n"
    "  Requests/sec:\t2510.6565\n"
    "\nResponse time histogram:\n"
    "  0.0002 [1]\t|\n"
    "  0.0015 [9951]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎\n"
    "  0.0028 [34]\t|\n"
    "  0.0041 [2]\t|\n"
    "  0.0054 [5]\t|\n"
    "  0.0068 [4]\t|\n"
    "  0.0081 [0]\t|\n"
    "  0.0094 [1]\t|\n"
    "  0.0107 [0]\t|\n"
    "  0.0120 [1]\t|\n"
    "  0.0133 [1]\t|\n"
    "\nLatency distribution:\n"
    "  10% in 0.0003 secs.\n"
    "  25% in 0.0003 secs.\n"
    "  50% in 0.0004 secs.\n"
    "  75% in 0.0004 secs.\n"
    "  90% in 0.0005 secs.\n"
    "  95% in 0.0006 secs.\n"
    "  99% in 0.0011 secs.\n"
    "  99.9% in 0.0047 secs.\n")


def test_layout_matches_etcds_recorded_report():
    # unrounded values that etcd's run could have had (its text shows them rounded)
    fastest, slowest = 0.000202, 0.013302
    stats = r.Stats(total_s=3.98301, fastest_s=fastest, slowest_s=slowest, average_s=0.00041,
                    stddev_s=0.00029, requests_per_s=2510.65652, latencies_s=(0.0004,))
    step = (slowest - fastest) / 10
    bounds = [fastest + step * i for i in range(10)] + [slowest]
    counts = [1, 9951, 34, 2, 5, 4, 0, 1, 0, 1, 1]
    text = (r.format_summary(stats)
            + r.format_histogram(list(zip(bounds, counts)))
            + r.format_latencies([0.00031, 0.00033, 0.00039, 0.00044, 0.00051, 0.00058,
                                  0.00109, 0.00471]))
    assert text == ETCD_3_4_RANGE


def test_summary_arithmetic_is_etcds():
    results = [r.Result(0.0, d) for d in (0.010, 0.020, 0.030, 0.040)] + \
              [r.Result(0.0, 5.0, "context deadline exceeded")]
    s = r.summarize(results, total_s=2.0)
    assert (s.fastest_s, s.slowest_s) == (0.010, 0.040)
    assert math.isclose(s.average_s, 0.025)
    # population standard deviation over successes only
    assert math.isclose(s.stddev_s, math.sqrt(0.000125))
    assert s.requests_per_s == 2.0  # successes / wall time
    assert s.errors == (("context deadline exceeded", 1),)
    assert "\nError distribution:\n  [1]\tcontext deadline exceeded\n" in r.format_report(s)


def test_percentiles_follow_3_4s_rule():
    lats = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    p = r.percentiles(lats)
    # the first index i with i*100/n >= p: 10 % is lats[10], 99 % is lats[99]
    assert p[:7] == (0.011, 0.026, 0.051, 0.076, 0.091, 0.096, 0.1)
    assert p[7] == 0.0  # 100 samples have no 99.9 %: etcd prints no line for it
    text = r.format_latencies(p)
    assert "99% in 0.1000 secs.\n" in text and "99.9%" not in text


def test_histogram_walk_and_bars():
    s = r.stats_of([0.001, 0.001, 0.0018, 0.0045, 0.011], total_s=1.0)
    buckets = r.histogram(s)
    assert len(buckets) == 11
    assert buckets[0] == (0.001, 2)              # the first bound is the fastest latency
    assert [c for _, c in buckets] == [2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert buckets[-1][0] == 0.011
    lines = r.format_histogram(buckets).splitlines()
    assert lines[2] == "  0.0010 [2]\t|" + "∎" * 40
    assert lines[3] == "  0.0020 [1]\t|" + "∎" * 20


def test_no_successes_prints_only_errors():
    s = r.summarize([r.Result(0.0, 1.0, "boom")], total_s=1.0)
    assert r.format_report(s) == "\nError distribution:\n  [1]\tboom\n"
    assert r.go_float("%f", s.stddev_s) == "NaN"  # Go prints NaN where etcd divides 0 by 0


def test_precise_is_gos_shortest_g():
    g = r.go_shortest_g
    assert g(0.0001234) == "0.0001234"
    assert g(1.5e-05) == "1.5e-05"
    assert g(1852.6458) == "1852.6458"
    assert g(100000.0) == "100000"
    assert g(1234567.0) == "1.234567e+06"
    assert g(0.1) == "0.1"
    assert r.go_float("%g", 0.0) == "0"
    assert r.go_float("%4.4f", 0.00005) == "0.0001"
