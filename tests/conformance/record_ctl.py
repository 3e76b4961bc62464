"""Record etcdctl's answers to the ctl scenarios: `python -m tests.conformance.record_ctl`.

For each scenario in ctl_scenarios.SCENARIOS this starts a throwaway etcd (record.Etcd),
runs each step as `etcdctl --endpoints 127.0.0.1:<port> <args>` (stdin fed if given), and
writes stdout, the `Error:` lines of stderr (clientv3's JSON log lines are dropped) and the
exit code to recorded/ctl.json, with run-dependent values replaced by placeholders (see
normalize()). Options: --out PATH, --etcdctl PATH, --etcd PATH.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conformance.ctl_scenarios import SCENARIOS
from tests.conformance.record import Etcd

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "recorded" / "ctl.json"


def normalize(text: str, *, cluster_id: int, member_id: int, client_port: int,
              peer_port: int) -> str:
    """Replace what differs between runs and servers: ids (decimal and hex), ports, raft
    term and index, db sizes, timings."""
    for value, name in ((cluster_id, "cluster_id"), (member_id, "member_id")):
        text = text.replace(str(value), f"<{name}>").replace(f"{value:x}", f"<{name}_hex>")
    text = text.replace(f":{client_port}", ":<client_port>").replace(f":{peer_port}",
                                                                      ":<peer_port>")
    subs = [
        (r'("raft_term"|"raftTerm"):\d+', r'\1:<raft_term>'),
        (r'"RaftTerm" : [1-9]\d*', '"RaftTerm" : <raft_term>'),
        (r'("raftIndex"|"raftAppliedIndex"):\d+', r'\1:<raft_index>'),
        (r'("RaftIndex"|"RaftAppliedIndex") : \d+', r'\1 : <raft_index>'),
        (r'("dbSize"|"dbSizeInUse"):\d+', r'\1:<db_size>'), (r'"DBSize" : \d+', '"DBSize" : <db_size>'),
        (r'"took":"[^"]*"', '"took":"<took>"'), (r"took = \S+", "took = <took>"),
        (r'"Took" : \S+', '"Took" : <took>'), (r'"version":"[^"]*"', '"version":"<version>"'),
        (r'"Version" : "[^"]*"', '"Version" : "<version>"'),
        # endpoint status rows: version, db size, raft term, raft index, applied index
        (r"(<member_id_hex>), [^,]+, [^,]+, (true|false), (true|false), \d+, \d+, \d+",
         r"\1, <version>, <db_size>, \2, \3, <raft_term>, <raft_index>, <raft_index>"),
        (r"\| (\s*)(<member_id_hex>) \|\s*[^|]+\|\s*[^|]+\|(\s*)(true|false) \|(\s*)(true|false) \|"
         r"\s*\d+ \|\s*\d+ \|\s*\d+ \|", r"| \2 | <version> | <db_size> | \4 | \6 | <raft_term> | "
         r"<raft_index> | <raft_index> |"),
    ]
    for pat, rep in subs:
        text = re.sub(pat, rep, text)
    return text


def normalize_table_borders(text: str) -> str:
    """Table widths depend on the normalized values: compare tables without padding."""
    lines = []
    for line in text.splitlines(True):
        if line.startswith("+-"):
            lines.append("+---+\n")
        elif line.startswith("|"):
            lines.append("|".join(c.strip() for c in line.rstrip("\n").split("|")) + "\n")
        else:
            lines.append(line)
    return "".join(lines)


def stderr_errors(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith('{"level"')]


def run_step(argv: list[str], endpoint: str, step: dict, env=None) -> dict:
    p = subprocess.run([*argv, "--endpoints", endpoint, *step["args"]],
                       input=(step["stdin"] or "").encode(), capture_output=True, timeout=60,
                       env=env)
    return {"stdout": p.stdout.decode("utf-8", "replace"),
            "stderr": stderr_errors(p.stderr.decode("utf-8", "replace")), "exit": p.returncode}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--etcdctl", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    args = ap.parse_args(argv)
    if not (os.path.exists(args.etcd) and os.path.exists(args.etcdctl)):
        print("needs etcd and etcdctl: apt-get install -y etcd-server etcd-client",
              file=sys.stderr)
        return 2
    env = dict(os.environ, ETCDCTL_API="3")
    out = []
    for sc in SCENARIOS:
        etcd = Etcd(args.etcd)
        try:
            etcd.start()
            ids = dict(cluster_id=int(etcd.cluster_id), member_id=int(etcd.member_id),
                       client_port=etcd.client_port, peer_port=etcd.peer_port)
            steps = []
            for step in sc["steps"]:
                r = run_step([args.etcdctl], f"127.0.0.1:{etcd.client_port}", step, env)
                r["stdout"] = normalize(r["stdout"], **ids)
                r["stderr"] = [normalize(x, **ids) for x in r["stderr"]]
                steps.append({"step": step, "result": r})
        finally:
            etcd.stop()
        out.append({"name": sc["name"], "needs": sc["needs"], "steps": steps})
        print(f"{sc['name']}: {len(steps)} steps", file=sys.stderr)
    args.out.write_text(json.dumps({"etcdctl": "3.4.23", "scenarios": out}, indent=1,
                                   ensure_ascii=False) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
