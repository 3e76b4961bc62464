"""`petcd-bench` (etcd's benchmark tool for petcd) on tiny workloads against a throwaway
member: every subcommand runs, counts every request and prints etcd's report."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from petcd.testing.member import ThrowawayMember

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    m = ThrowawayMember(tmp_path_factory.mktemp("bench")).start()
    try:
        yield m
    finally:
        m.stop()


def bench(*args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "petcd.bench.benchmark", *args],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p
    return p


def requests_in(report: str) -> int:
    """The histogram's counts: every successful request lands in one bucket."""
    return sum(int(n) for n in re.findall(r"^  \d+\.\d{4} \[(\d+)\]\t\|∎*$", report, re.M))


def check_report(text: str, total: int) -> None:
    assert text.startswith("\nSummary:\n  Total:\t"), text
    for label in ("Slowest", "Fastest", "Average", "Stddev"):
        assert re.search(rf"^  {label}:\t\d+\.\d{{4}} secs\.$", text, re.M), (label, text)
    assert re.search(r"^  Requests/sec:\t\d+\.\d{4}$", text, re.M), text
    assert "\nResponse time histogram:\n" in text and "\nLatency distribution:\n" in text
    assert re.search(r"^  50% in \d+\.\d{4} secs\.$", text, re.M), text
    assert requests_in(text) == total
    assert "Error distribution" not in text


def test_put_counts_every_request(member):
    p = bench("--endpoints", member.zmq_endpoint, "--clients", "8", "--conns", "2",
              "put", "--total", "200", "--key-space-size", "50", "--val-size", "32")
    check_report(p.stdout, 200)
    assert p.stdout.endswith(".\n\n")  # etcd prints the report with Println: one more \n


def test_global_flags_after_the_subcommand_and_http(member):
    p = bench("range", "foo", "--total", "200", "--clients", "4", "--consistency", "s",
              "--endpoints", member.http_endpoint)
    assert p.stdout.startswith("bench with serializable range\n")
    check_report(p.stdout[len("bench with serializable range\n"):], 200)


def test_txn_put_and_lease_keepalive(member):
    p = bench("--endpoints", member.zmq_endpoint, "--clients", "4", "txn-put", "--total",
              "200", "--txn-ops", "3", "--key-space-size", "20")
    check_report(p.stdout, 200)
    p = bench("--endpoints", member.zmq_endpoint, "--clients", "4", "lease-keepalive",
              "--total", "200")
    check_report(p.stdout, 200)


def test_watch_latency_counts_each_watcher(member):
    # native puts; the watchers use the member's advertised HTTP client URL
    p = bench("--endpoints", member.zmq_endpoint, "--clients", "3", "watch-latency",
              "--total", "20", "--put-rate", "100")
    assert p.stdout.startswith("\nSummary:\n")
    assert requests_in(p.stdout) == 60  # every put seen by every watcher


def test_pipeline_floor_runs_every_put_through_the_stand_ins(tmp_path):
    from petcd.bench import pipeline_floor
    r = pipeline_floor.floor(40, str(tmp_path))
    assert 0 < r["p10_ms"] <= r["p50_ms"] <= r["p90_ms"]
    # wal and apply fsynced where they were told to; raft never does
    assert sorted(p.name for p in tmp_path.iterdir()) == ["L.apply", "L.wal"]


def test_pipeline_floor_of_three_members_fsyncs_in_every_wal(tmp_path):
    from petcd.bench import pipeline_floor
    r = pipeline_floor.floor(40, str(tmp_path), size=3)
    assert 0 < r["p10_ms"] <= r["p50_ms"] <= r["p90_ms"]
    # every wal fsynced, the leader's and both followers', and the leader's apply
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F1.wal", "F2.wal", "L.apply",
                                                           "L.wal"]
