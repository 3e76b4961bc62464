"""`petcdctl check perf` end to end against a throwaway member, shortened with the
petcd-only `--duration` flag: etcdctl's report lines and exit codes, and the prefix left
empty afterwards. `check datascale` against a real etcd (skipped without one)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import urllib.request

import pytest

from petcd.client import Client
from petcd.testing.member import ThrowawayMember
from tests.conformance.record import Etcd

pytestmark = pytest.mark.integration

PASS_REPORT = [r"PASS: Throughput is \d+ writes/s", r"PASS: Slowest request took \d+\.\d{6}s",
               r"PASS: Stddev is \d+\.\d{6}s", r"PASS"]


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    m = ThrowawayMember(tmp_path_factory.mktemp("check-perf")).start()
    try:
        yield m
    finally:
        m.stop()


def petcdctl(endpoint: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "petcd.ctl", "--endpoints", endpoint, *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def prefix_count(member, prefix: str) -> int:
    with Client(member.http_endpoint) as c:
        return c.get(prefix, prefix=True, count_only=True).count


@pytest.mark.parametrize("via", ["native", "http"])
def test_small_load_passes_and_cleans_up(member, via):
    ep = member.zmq_endpoint if via == "native" else member.http_endpoint
    p = petcdctl(ep, "check", "perf", "--load=s", "--duration=2s")
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert len(lines) == 4 and all(re.fullmatch(x, y) for x, y in zip(PASS_REPORT, lines)), p
    # 150 puts/s for 2 s: the rate is etcdctl's (printed as int(rate) + 1)
    assert 140 <= int(lines[0].split()[3]) <= 152
    assert p.stderr == ""
    assert prefix_count(member, "/etcdctl-check-perf/") == 0


def test_auto_compact_prints_the_revision_first(member):
    p = petcdctl(member.zmq_endpoint, "check", "perf", "--duration=1s", "--auto-compact",
                 "--prefix", "/other-prefix/")
    assert p.returncode == 0, p
    assert re.fullmatch(r"compacted revision \d+", p.stdout.splitlines()[0])
    assert p.stdout.splitlines()[-1] == "PASS"


def test_unmet_throughput_fails_with_exit_1(member):
    # xl asks for 15,000 puts/s from 1,000 clients: far beyond one member on this machine,
    # so the throughput line fails and so does the check, as etcdctl's would.
    p = petcdctl(member.zmq_endpoint, "check", "perf", "--load=xl", "--duration=1s")
    assert p.returncode == 1, p
    lines = p.stdout.splitlines()
    assert re.fullmatch(r"FAIL: Throughput too low: \d+ writes/s", lines[0]), p
    assert lines[-1] == "FAIL"
    assert prefix_count(member, "/etcdctl-check-perf/") == 0


def test_refusals_are_etcdctls(member):
    p = petcdctl(member.http_endpoint, "check", "perf", "--load=huge")
    assert (p.returncode, p.stderr) == (4, "Error: unknown load option huge\n")
    with Client(member.http_endpoint) as c:
        c.put("/etcdctl-check-perf/left-over", "x")
        try:
            p = petcdctl(member.http_endpoint, "check", "perf")
        finally:
            c.delete("/etcdctl-check-perf/left-over")
    assert p.returncode == 3
    assert p.stderr == ('Error: prefix "/etcdctl-check-perf/" has keys. Delete with petcdctl '
                        'del --prefix /etcdctl-check-perf/ first\n')


def test_datascale_passes_against_petcd(member):
    # datascale's keys are 25 + 512 bytes, past LMDB's key limit (stages/apply/long_keys.py).
    p = petcdctl(member.http_endpoint, "check", "datascale", "--load=s")
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert lines[0].startswith("Start data scale check for work load [10000 key-value pairs")
    assert re.fullmatch(r"PASS: Approximate system memory used : -?\d+\.\d\d MB\.", lines[1]), p
    assert prefix_count(member, "/etcdctl-check-datascale/") == 0


@pytest.mark.slow
def test_datascale_runs_against_etcd():
    # The same command against a real etcd: its output is etcdctl's.
    if shutil.which("etcd") is None:
        pytest.skip("no etcd binary")
    e = Etcd(shutil.which("etcd"))
    e.start()
    try:
        p = petcdctl(f"127.0.0.1:{e.client_port}", "check", "datascale", "--load=s")
    finally:
        e.stop()
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert lines[0] == ("Start data scale check for work load [10000 key-value pairs, 1024 "
                        "bytes per key-value, 50 concurrent clients].")
    assert re.fullmatch(r"PASS: Approximate system memory used : -?\d+\.\d\d MB\.", lines[1]), p


def test_member_exports_its_resident_memory(member):
    # what datascale reads: etcd's metric name, here summed over the member's processes
    with urllib.request.urlopen(f"{member.http_endpoint}/metrics", timeout=10) as r:
        body = r.read().decode()
    line = next(x for x in body.splitlines() if x.startswith("process_resident_memory_bytes "))
    assert float(line.split()[1]) > 10 * 1024 * 1024
