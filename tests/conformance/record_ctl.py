"""Record etcdctl's answers to the ctl scenarios: `python -m tests.conformance.record_ctl`.

For each scenario in ctl_scenarios.SCENARIOS this starts a throwaway etcd (record.Etcd),
runs each step as `etcdctl --endpoints 127.0.0.1:<port> <args>` (stdin fed if given), and
writes stdout, the `Error:` lines of stderr (clientv3's JSON log lines are dropped) and the
exit code to recorded/ctl.json, with run-dependent values replaced by placeholders (see
normalize()). Steps may name ids known only at run time (Session: this member's, the ones the scenario
added). Options: --out PATH, --etcdctl PATH, --etcd PATH, --only NAME[,NAME...] (record some
scenarios, keep the others' recordings).
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


class Session:
    """What the steps of one scenario share: the member's id, and the ids of the members the
    scenario added, in order. Step arguments may name them: `<member_id_hex>`, and
    `<added_hex>` for the last member added; and the member's `<peer_port>`."""

    _ADDED = (re.compile(r"Member ([0-9a-f ]{16}) added to cluster"),
              re.compile(r'"ID":(\d+)'), re.compile(r"^([0-9a-f]+), (?:un)?started, ", re.M))

    def __init__(self, member_id: int, peer_port: int = 0) -> None:
        self.member_id = member_id
        self.peer_port = peer_port
        self.added: list[int] = []

    def args(self, args: list[str]) -> list[str]:
        last = f"{self.added[-1]:x}" if self.added else "0"
        return [a.replace("<member_id_hex>", f"{self.member_id:x}").replace("<added_hex>", last)
                .replace("<peer_port>", str(self.peer_port)) for a in args]

    def observe(self, stdout: str) -> None:
        """Learn the ids of new members from a step's output (an add, or a list after an add
        whose output hid the id); keep steps such that one is new at a time, or their
        numbering would follow their random order."""
        added, json_ids, rows = self._ADDED
        found = [int(m.group(1).strip(), 16) for m in added.finditer(stdout)]
        found += [int(m.group(1)) for m in json_ids.finditer(stdout)]
        found += [int(m.group(1), 16) for m in rows.finditer(stdout)]
        for value in found:
            if value != self.member_id and value not in self.added:
                self.added.append(value)


def _canon_member_order(text: str) -> str:
    """Members come sorted by id, and added members' ids differ from run to run: once the ids
    are placeholders, put member lists in a fixed order (ETCD_INITIAL_CLUSTER entries, JSON
    `members` arrays, rows of `member list`)."""
    out, rows = [], []
    row = re.compile(r"^[^,]+, (started|unstarted), ")
    for line in text.splitlines(True):
        if row.match(line):
            rows.append(line if line.endswith("\n") else line + "\n")
            continue
        out.extend(sorted(rows))
        rows = []
        m = re.match(r'^ETCD_INITIAL_CLUSTER="(.*)"$', line.rstrip("\n"))
        if m:
            line = f'ETCD_INITIAL_CLUSTER="{",".join(sorted(m.group(1).split(",")))}"\n'
        elif '"members":[' in line:
            line = _sort_json_members(line)
        out.append(line)
    out.extend(sorted(rows))
    return "".join(out)


def _sort_json_members(line: str) -> str:
    """The objects of a `"members":[...]` array in a fixed order (text, not parsed: the line
    holds placeholders by now)."""
    start = line.index('"members":[') + len('"members":[')
    depth, items, item = 0, [], []
    for i in range(start, len(line)):
        ch = line[i]
        if depth == 0 and ch == "]":
            return line[:start] + ",".join(sorted("".join(x) for x in items + [item] if x)) \
                + line[i:]
        if depth == 0 and ch == ",":
            items.append(item)
            item = []
            continue
        depth += ch in "{["
        depth -= ch in "}]"
        item.append(ch)
    return line


def _padded_hex(text: str, value: int, placeholder: str) -> str:
    """etcdctl's "Member %16x added to cluster %16x" pads an id of fewer than 16 hex digits
    with spaces. Replace that form only there: elsewhere (", <id>, " in endpoint status) the
    padding would swallow the space before a short id."""
    padded = f"{value:16x}"
    if padded == f"{value:x}":
        return text
    return re.sub(r"(?:(?<=Member )|(?<=cluster ))" + re.escape(padded), placeholder, text)


def normalize(text: str, *, cluster_id: int, member_id: int, client_port: int,
              peer_port: int, session: Session | None = None) -> str:
    """Replace what differs between runs and servers: ids (decimal and hex), ports, raft
    term and index, db sizes, timings."""
    if session is not None:
        for i, value in enumerate(session.added, 1):
            text = _padded_hex(text.replace(str(value), f"<added_id_{i}>"), value,
                               f"<added_hex_{i}>").replace(f"{value:x}", f"<added_hex_{i}>")
    for value, name in ((cluster_id, "cluster_id"), (member_id, "member_id")):
        text = _padded_hex(text.replace(str(value), f"<{name}>"), value,
                           f"<{name}_hex>").replace(f"{value:x}", f"<{name}_hex>")
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
    return _canon_member_order(text) if session is not None and session.added else text


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


def run_step(argv: list[str], endpoint: str, step: dict, env=None,
             session: Session | None = None) -> dict:
    args = session.args(step["args"]) if session is not None else step["args"]
    p = subprocess.run([*argv, "--endpoints", endpoint, *args],
                       input=(step["stdin"] or "").encode(), capture_output=True, timeout=60,
                       env=env)
    out = {"stdout": p.stdout.decode("utf-8", "replace"),
           "stderr": stderr_errors(p.stderr.decode("utf-8", "replace")), "exit": p.returncode}
    if session is not None:
        session.observe(out["stdout"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    ap.add_argument("--etcdctl", default=shutil.which("etcdctl") or "/usr/bin/etcdctl")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    args = ap.parse_args(argv)
    only = {n for n in args.only.split(",") if n}
    old = ({s["name"]: s for s in json.loads(args.out.read_text())["scenarios"]}
           if only and args.out.exists() else {})
    if not (os.path.exists(args.etcd) and os.path.exists(args.etcdctl)):
        print("needs etcd and etcdctl: apt-get install -y etcd-server etcd-client",
              file=sys.stderr)
        return 2
    env = dict(os.environ, ETCDCTL_API="3")
    out = []
    for sc in SCENARIOS:
        if only and sc["name"] not in only:
            if sc["name"] in old:
                out.append(old[sc["name"]])
            continue
        etcd = Etcd(args.etcd)
        try:
            etcd.start()
            ids = dict(cluster_id=int(etcd.cluster_id), member_id=int(etcd.member_id),
                       client_port=etcd.client_port, peer_port=etcd.peer_port)
            steps = []
            session = Session(ids["member_id"], ids["peer_port"])
            for step in sc["steps"]:
                r = run_step([args.etcdctl], f"127.0.0.1:{etcd.client_port}", step, env,
                             session)
                r["stdout"] = normalize(r["stdout"], **ids, session=session)
                r["stderr"] = [normalize(x, **ids, session=session) for x in r["stderr"]]
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
