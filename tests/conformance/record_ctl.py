"""Record etcdctl's answers to the ctl scenarios: `python -m tests.conformance.record_ctl`.

For each scenario in ctl_scenarios.SCENARIOS this starts a throwaway etcd (record.Etcd),
runs each step as `etcdctl --endpoints 127.0.0.1:<port> <args>` (stdin fed if given, in a
scratch directory), and writes stdout, stderr without clientv3's JSON log lines, and the exit
code to recorded/ctl.json, with run-dependent values replaced by placeholders (see
normalize()). Steps may name ids known only at run time (Session: this member's, the ones the
scenario added, the leases it granted). A step that may not end by itself (watch, lock,
elect, keep-alive) is bounded, and its result says what ended it (run_step). Options:
--out PATH, --etcdctl PATH, --etcd PATH, --only NAME[,NAME...] (record some scenarios, keep
the others' recordings).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conformance.ctl_scenarios import SCENARIOS
from tests.conformance.record import Etcd

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "recorded" / "ctl.json"


class Session:
    """What the steps of one scenario share: the member's id, the ids of the members the
    scenario added and of the leases it granted, in order. Step arguments may name them:
    `<member_id_hex>`, `<added_hex>` for the last member added, `<lease_hex>` for the last
    lease granted; and the member's `<peer_port>`."""

    _ADDED = (re.compile(r"Member ([0-9a-f ]{16}) added to cluster"),
              re.compile(r'"ID":(\d+)'), re.compile(r"^([0-9a-f]+), (?:un)?started, ", re.M))
    # `lease grant` (simple and JSON); lock and elect print `<name>/<lease id in hex>`
    _LEASES = (re.compile(r"^lease ([0-9a-f]{16}) granted with TTL", re.M),
               re.compile(r'^\{"cluster_id":\d+,"member_id":\d+,"revision":\d+,"raft_term":\d+,'
                          r'"ID":(\d+),"TTL":\d+,"Error":'))
    _SESSION_KEY = re.compile(r"\A[^/\n]+/([0-9a-f]{1,16})\n")

    def __init__(self, member_id: int, peer_port: int = 0) -> None:
        self.member_id = member_id
        self.peer_port = peer_port
        self.added: list[int] = []
        self.leases: list[int] = []

    def args(self, args: list[str]) -> list[str]:
        last = f"{self.added[-1]:x}" if self.added else "0"
        lease = f"{self.leases[-1]:x}" if self.leases else "0"
        return [a.replace("<member_id_hex>", f"{self.member_id:x}").replace("<added_hex>", last)
                .replace("<lease_hex>", lease).replace("<peer_port>", str(self.peer_port))
                for a in args]

    def observe(self, stdout: str, args: list[str] = ()) -> None:
        """Learn the ids of new members and leases from a step's output (an add, or a list
        after an add whose output hid the id; a grant, a lock, an election); keep steps such
        that one is new at a time, or their numbering would follow their random order."""
        grant, grant_json = self._LEASES
        leases = [int(m.group(1), 16) for m in grant.finditer(stdout)]
        leases += [int(m.group(1)) for m in grant_json.finditer(stdout)]
        if args and args[0] in ("lock", "elect"):
            leases += [int(m.group(1), 16) for m in self._SESSION_KEY.finditer(stdout)]
        for value in leases:
            if value not in self.leases:
                self.leases.append(value)
        added, json_ids, rows = self._ADDED
        found = [int(m.group(1).strip(), 16) for m in added.finditer(stdout)]
        if '"members":[' in stdout:  # other JSON answers have IDs too (leases)
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
    term and index, db sizes, timings, a lease's remaining TTL."""
    if session is not None:
        for i, value in enumerate(session.leases, 1):
            text = text.replace(f"{value:016x}", f"<lease_hex_{i}>").replace(
                str(value), f"<lease_id_{i}>").replace(f"{value:x}", f"<lease_hex_{i}>")
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
        # lease timetolive: whole seconds left, which depends on how long the steps took
        (r"remaining\(\d+s\)", "remaining(<remaining>)"),
        (r'"ttl":-?\d+,"granted-ttl"', '"ttl":<remaining>,"granted-ttl"'),
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
             session: Session | None = None, cwd=None, until=None, bring_forward=None) -> dict:
    """Run one step: `argv --endpoints endpoint <args>` with the step's stdin, in `cwd`.

    A step that would not end by itself is bounded: with `stop_after` (seconds) the program
    gets SIGTERM that long after it started, if still running, and its exit code is then
    -15 (died of the signal) or whatever it exits with on SIGTERM; with `hold_stdin`
    (seconds) its stdin stays open that long after the stdin text was written, then ends
    (`watch -i` reads commands until its input ends). A step that ends earlier is not waited
    for. The result of a bounded step says what ended it: `ended_by` "itself", "stdin" (it
    ended after its stdin did) or "signal".

    `until(stdout so far) -> bool`, once true (and GRACE_S later), brings that bound forward
    (`bring_forward`: "stdin" or "signal"): a replay that has the recorded output need not
    wait out the bound the recorded run ended by."""
    args = session.args(step["args"]) if session is not None else step["args"]
    cmd = [*argv, "--endpoints", endpoint, *args]
    stdin = (step["stdin"] or "").encode()
    if step.get("stop_after") is None and step.get("hold_stdin") is None:
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60, env=env, cwd=cwd)
        stdout, stderr, code, ended_by = p.stdout, p.stderr, p.returncode, None
    else:
        stdout, stderr, code, ended_by = _run_bounded(
            cmd, stdin, step.get("hold_stdin") or 0.0, step.get("stop_after") or 60.0, env,
            cwd, until if bring_forward == "stdin" else None,
            until if bring_forward == "signal" else None)
    out = {"stdout": stdout.decode("utf-8", "replace"),
           "stderr": stderr_errors(stderr.decode("utf-8", "replace")), "exit": code}
    if ended_by is not None:
        out["ended_by"] = ended_by
    if session is not None:
        session.observe(out["stdout"], args)
    return out


GRACE_S = 0.3


def _wait(p: subprocess.Popen, out, deadline: float, until) -> bool:
    """Wait until `p` ends (True) or `deadline`, or GRACE_S after `until` holds for its
    output so far (False)."""
    if until is None:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
            return True
        except subprocess.TimeoutExpired:
            return False
    while time.monotonic() < deadline:
        try:
            p.wait(0.05)
            return True
        except subprocess.TimeoutExpired:
            pass
        if until is not None:
            out.seek(0)
            if until(out.read().decode("utf-8", "replace")):
                deadline = min(deadline, time.monotonic() + GRACE_S)
                until = None
    return p.poll() is not None


def _run_bounded(cmd: list[str], stdin: bytes, hold_s: float, stop_s: float, env, cwd,
                 until_stdin, until_signal) -> tuple[bytes, bytes, int, str]:
    # Output goes to files: nothing to read while waiting, and no pipe can fill up.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env,
                             cwd=cwd)
        ended_by = "itself"
        try:
            try:
                p.stdin.write(stdin)
                p.stdin.flush()
            except BrokenPipeError:
                pass
            if hold_s and not _wait(p, out, start + hold_s, until_stdin):
                ended_by = "stdin"
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
            if not _wait(p, out, start + stop_s, until_signal):
                ended_by = "signal"
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out.seek(0)
        err.seek(0)
        return out.read(), err.read(), p.returncode, ended_by


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
                             session, cwd=etcd.dir)
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
