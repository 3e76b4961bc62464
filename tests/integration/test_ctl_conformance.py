"""petcdctl against a real petcd member, compared with etcdctl 3.4.23's recorded answers
(tests/conformance/recorded/ctl.json; re-record with `python -m tests.conformance.record_ctl`).

Each scenario runs on a fresh member: every step's exit code and last stderr line must match,
and its stdout must match byte for byte after the same normalization (ids, ports, terms,
indexes, sizes, timings). Known differences are listed in KNOWN_STDOUT with the reason, and
steps petcdctl cannot run yet in SKIPPED_STEPS. replay() is also the comparison of
test_etcdctl_conformance.py (the real etcdctl against petcd)."""
from __future__ import annotations

import copy
import json
import re
import sys

import pytest

from tests.conformance.record_ctl import (DEFAULT_OUT, Session, normalize,
                                          normalize_table_borders, run_step)

pytestmark = pytest.mark.integration

RECORDED = json.loads(DEFAULT_OUT.read_text())
# Server features petcd does not have (ctl_scenarios `needs`): their scenarios are skipped.
UNSUPPORTED: set[str] = set()
# (scenario, step index) -> why stdout may differ; the exit code and error still must match
KNOWN_STDOUT: dict[tuple[str, int], str] = {}
# (scenario, step index) -> the step's arguments: steps petcdctl does not run, because it
# lacks their command (the arguments are checked, so that a re-recording that moves the
# steps fails here rather than skipping others).
SKIPPED_STEPS: dict[tuple[str, int], tuple[list[str], str]] = {}


def _ids(member) -> dict:
    _, doc = member.post("/v3/cluster/member/list", {})
    return dict(cluster_id=int(doc["header"]["cluster_id"]),
                member_id=int(doc["header"]["member_id"]), client_port=member.client_port,
                peer_port=member.peer_port)


def canon_by_design(text: str) -> str:
    """What differs by design, made equal: hash values (petcd hashes its own LMDB layout, not
    bbolt's) in every output format; timings in tables; then table padding, which depends on
    the widths of those values."""
    text = re.sub(r"^(\S+), \d+$", r"\1, <hash>", text, flags=re.M)
    text = re.sub(r'"hash":\d+', '"hash":<hash>', text)
    text = re.sub(r'^"Hash" : \d+$', '"Hash" : <hash>', text, flags=re.M)
    text = re.sub(r"^\|([^|]+)\|\s*\d+ \|$", r"|\1| <hash> |", text, flags=re.M)  # ENDPOINT, HASH
    text = re.sub(r"\| \d+(\.\d+)?(ns|µs|ms|s) \|", "| <took> |", text)
    return normalize_table_borders(text)


def _canon(text: str) -> str:
    return canon_by_design(text.replace("petcdctl", "etcdctl"))  # the program's name in usage texts


def _unordered_members(text: str) -> object:
    """Both sides list members by id, as etcd does, but an added member's id differs between
    runs (a hash of its URLs and the time), so its place in the list does too: compare the
    members as a multiset (the JSON's members sorted; other formats' lines sorted)."""
    try:  # placeholders (<member_id>) stand where numbers were: quote them to parse
        doc = json.loads(re.sub(r"(?<=[:\[,])<(\w+)>(?=[,}\]])", r'"<\1>"', text))
    except ValueError:
        return sorted(text.splitlines())
    if isinstance(doc, dict) and "members" in doc:
        doc["members"] = sorted(doc["members"], key=lambda x: json.dumps(x, sort_keys=True))
    return doc


def _has_output(want: str, step: dict, ids: dict, session: Session, canon):
    """Whether a bounded step has printed the recorded stdout so far (run_step's `until`)."""
    want = canon(want)

    def until(stdout: str) -> bool:
        s = copy.deepcopy(session)  # learns this step's ids (a lock's lease) on a copy
        s.observe(stdout, s.args(step["args"]))
        return canon(normalize(stdout, **ids, session=s)) == want

    return until


def replay(scenario: dict, argv: list[str], member, known_stdout: dict, *, env=None,
           cwd=None, canon=_canon, stderr_lines: int = 1, skipped_steps=None) -> None:
    """Run a recorded scenario's steps with `argv` (the ctl program) against `member`, a
    member in the state of a fresh one, and compare every step with the recording; all
    steps run, but those in `skipped_steps` (see SKIPPED_STEPS), and the test fails listing
    each step that differs. Of stderr, the last `stderr_lines` lines are compared (0: all).
    A bounded step (watch, lock, ...) is ended as soon as it has printed the recorded
    stdout, rather than when its bound runs out as in the recorded run."""
    ids = _ids(member)
    session = Session(ids["member_id"], ids["peer_port"])
    problems = []
    for i, step in enumerate(scenario["steps"]):
        want = step["result"]
        skipped = (skipped_steps or {}).get((scenario["name"], i))
        if skipped is not None:
            if skipped[0] != step["step"]["args"]:
                problems.append(f"{scenario['name']}[{i}] is {step['step']['args']}, the "
                                f"skipped step is {skipped[0]}: update SKIPPED_STEPS")
            continue
        until = None
        if want.get("ended_by") in ("stdin", "signal") and want["stdout"]:
            until = _has_output(want["stdout"], step["step"], ids, session, canon)
        got = run_step(argv, f"127.0.0.1:{member.client_port}", step["step"], env=env,
                       session=session, cwd=cwd, until=until,
                       bring_forward=want.get("ended_by"))
        got_out = normalize(got["stdout"], **ids, session=session)
        got_err = [normalize(x, **ids, session=session) for x in got["stderr"]]
        where = f"{scenario['name']}[{i}] {step['step']['args']}"
        if got["exit"] != want["exit"]:
            problems.append(f"{where}: exit {got['exit']}, recorded {want['exit']}; "
                            f"stdout {got_out!r}, stderr {got_err!r}")
            continue
        if got_err[-stderr_lines:] != want["stderr"][-stderr_lines:]:
            problems.append(f"{where}: stderr {got_err!r}, recorded {want['stderr']!r}")
            continue
        if (scenario["name"], i) in known_stdout:
            continue
        if step["step"]["args"][:2] == ["member", "list"]:
            same = _unordered_members(canon(got_out)) == _unordered_members(canon(want["stdout"]))
        else:
            same = canon(got_out) == canon(want["stdout"])
        if not same:
            problems.append(f"{where}: stdout {got_out!r}, recorded {want['stdout']!r}")
    assert not problems, "\n".join(problems)


# The longest scenarios (each step is a petcdctl process) run with -m slow; the real etcdctl
# replays all of them by default (test_etcdctl_conformance.py).
SLOW_SCENARIOS = {"auth_users", "members", "lease_ops", "maintenance", "cluster"}


@pytest.mark.parametrize("scenario", [
    pytest.param(s, marks=pytest.mark.slow) if s["name"] in SLOW_SCENARIOS else s
    for s in RECORDED["scenarios"] if not set(s["needs"]) & UNSUPPORTED],
    ids=lambda s: s["name"])
def test_ctl_matches_etcdctl(start_member, tmp_path, scenario):
    m = start_member(name="conformance")
    replay(scenario, [sys.executable, "-m", "petcd.ctl"], m, KNOWN_STDOUT, cwd=tmp_path,
           skipped_steps=SKIPPED_STEPS)
