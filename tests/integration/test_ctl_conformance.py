"""petcdctl against a real petcd member, compared with etcdctl 3.4.23's recorded answers
(tests/conformance/recorded/ctl.json; re-record with `python -m tests.conformance.record_ctl`).

Each scenario runs on a fresh member: every step's exit code and `Error:` line must match,
and its stdout must match byte for byte after the same normalization (ids, ports, terms,
indexes, sizes, timings). Known differences are listed in KNOWN with the reason."""
from __future__ import annotations

import json
import re
import sys

import pytest

from tests.conformance.record_ctl import (DEFAULT_OUT, Session, normalize,
                                          normalize_table_borders, run_step)

pytestmark = pytest.mark.integration

RECORDED = json.loads(DEFAULT_OUT.read_text())
# Scenarios petcd cannot serve yet.
UNSUPPORTED: set[str] = set()
# (scenario, step index) -> why stdout may differ; the exit code and error still must match
KNOWN_STDOUT: dict[tuple[str, int], str] = {}


def _ids(member) -> dict:
    _, doc = member.post("/v3/cluster/member/list", {})
    return dict(cluster_id=int(doc["header"]["cluster_id"]),
                member_id=int(doc["header"]["member_id"]), client_port=member.client_port,
                peer_port=member.peer_port)


def _canon(text: str) -> str:
    # Hash values differ by design (petcd hashes its own LMDB layout, not bbolt's); timings
    # in tables; then table padding, which depends on the widths of those values.
    text = re.sub(r"^(\S+), \d+$", r"\1, <hash>", text, flags=re.M)
    text = re.sub(r"\| \d+(\.\d+)?(ns|µs|ms|s) \|", "| <took> |", text)
    text = text.replace("petcdctl", "etcdctl")  # the program's name in usage texts
    return normalize_table_borders(text)


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


@pytest.mark.parametrize("scenario", [s for s in RECORDED["scenarios"]
                                      if not set(s["needs"]) & UNSUPPORTED],
                         ids=lambda s: s["name"])
def test_ctl_matches_etcdctl(start_member, scenario):
    m = start_member(name="conformance")
    ids = _ids(m)
    session = Session(ids["member_id"], ids["peer_port"])
    for i, step in enumerate(scenario["steps"]):
        want = step["result"]
        got = run_step([sys.executable, "-m", "petcd.ctl"], f"127.0.0.1:{m.client_port}",
                       step["step"], session=session)
        got_out = normalize(got["stdout"], **ids, session=session)
        got_err = [normalize(x, **ids, session=session) for x in got["stderr"]]
        where = f"{scenario['name']}[{i}] {step['step']['args']}"
        assert got["exit"] == want["exit"], (where, got, want)
        assert got_err[-1:] == want["stderr"][-1:], (where, got_err, want["stderr"])
        if (scenario["name"], i) in KNOWN_STDOUT:
            continue
        if step["step"]["args"][:2] == ["member", "list"]:
            assert _unordered_members(_canon(got_out)) == \
                _unordered_members(_canon(want["stdout"])), (where, got_out, want["stdout"])
        else:
            assert _canon(got_out) == _canon(want["stdout"]), (where, got_out, want["stdout"])
