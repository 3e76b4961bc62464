"""common/hoptrace.py records only when asked, and bench/hop_trace.py lines one put's points
up across the processes that recorded them."""
import json
import os
import subprocess
import sys

from petcd.bench.hop_trace import table


def _write(trace_dir, pid, process, points):
    with open(os.path.join(trace_dir, f"trace.{pid}.json"), "w") as f:
        json.dump({"process": process, "points": points}, f)


def test_a_process_writes_its_points_at_exit_only_when_asked(tmp_path):
    code = "from petcd.common import hoptrace\nif hoptrace.ON: hoptrace.point('x')"
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PETCD_HOPTRACE": str(tmp_path)})
    (dump,) = tmp_path.iterdir()
    assert [name for name, _ in json.loads(dump.read_text())["points"]] == ["x"]
    off = tmp_path / "off"
    off.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PETCD_HOPTRACE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=off)
    assert not list(off.iterdir())


def test_points_between_two_arrivals_belong_to_one_put(tmp_path):
    api, raft, follower = [], [], []
    for i in range(10):  # put i arrives at i ms; raft sees it 100 us later, a follower 300
        t0 = i * 1_000_000
        api += [("http read", t0), ("client write", t0 + 500_000 + i)]
        raft.append(("recv propc", t0 + 100_000))
        follower.append(("recv recvc", t0 + 300_000))
    _write(tmp_path, 1, "petcd: m1 api", api)
    _write(tmp_path, 2, "petcd: m1 raft", raft)
    _write(tmp_path, 3, "petcd: m2 raft", [(n, t) for n, t in follower])
    _write(tmp_path, 4, "python something-else", [("http read", 5)])
    puts, rows = table(str(tmp_path), leader="m1")
    assert puts == 7  # the first fifth is warm-up and the last may be cut short
    names = [r[0] for r in rows]
    assert names == ["api http read", "raft recv propc", "m2/raft recv recvc",
                     "api client write"]
    assert [round(r[1]) for r in rows[:3]] == [0, 100, 300]
    assert round(rows[3][3]) == 200  # the step from the point before
