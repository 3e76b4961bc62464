"""Failpoint terms: parsing, counting, chaining, and the panic that ends the process."""
import subprocess
import sys
import time

import pytest

from petcd.common import failpoint


@pytest.fixture(autouse=True)
def clean():
    yield
    for name in list(failpoint.armed()):
        failpoint.disarm(name)


def test_nothing_armed_is_a_no_op():
    failpoint.hit("wal.before_fsync")
    assert failpoint.armed() == {}


def test_terms_parse_and_bad_terms_are_refused():
    assert [s.action for s in failpoint.parse("2*off->sleep(5)->panic")] == ["off", "sleep", "panic"]
    for bad in ("explode", "sleep(x)", "2*", "off->", "*panic"):
        with pytest.raises(failpoint.FailpointError):
            failpoint.parse(bad)


def test_unknown_names_are_refused():
    with pytest.raises(failpoint.FailpointError):
        failpoint.arm("wal.nowhere", "panic")
    with pytest.raises(failpoint.FailpointError):
        failpoint.parse_env("wal.nowhere=panic")


def test_count_then_next_term():
    failpoint.arm("apply.before_commit", "2*sleep(30)->off")
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        failpoint.hit("apply.before_commit")
        times.append(time.monotonic() - t0)
    assert times[0] >= 0.03 and times[1] >= 0.03 and times[2] < 0.03


def test_env_arms_only_the_stages_own_failpoints(monkeypatch):
    monkeypatch.setenv(failpoint.ENV, "wal.before_fsync=panic; apply.after_commit=3*off->panic")
    failpoint.arm_from_env("apply")
    assert failpoint.armed() == {"apply.after_commit": "3*off->panic"}


def test_panic_on_the_nth_hit_exits_the_process_at_once():
    code = ("from petcd.common import failpoint\n"
            "failpoint.arm('wal.after_fsync', '2*off->panic')\n"
            "for i in range(5):\n"
            "    print(i, flush=True)\n"
            "    failpoint.hit('wal.after_fsync')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 86
    assert r.stdout.split() == ["0", "1", "2"]


def test_every_catalogued_failpoint_is_hit_somewhere_in_the_code():
    from pathlib import Path
    root = Path(failpoint.__file__).resolve().parents[1]
    source = "".join(p.read_text() for d in ("stages",) for p in (root / d).rglob("*.py"))
    missing = [n for n in failpoint.CATALOG if f'"{n}"' not in source]
    assert missing == []
