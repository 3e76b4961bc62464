"""The real etcdctl 3.4.23 against petcd's gRPC API, compared with etcdctl's recorded answers
from a real etcd (tests/conformance/recorded/ctl.json): the steps test_ctl_conformance.py
replays with petcdctl, with the same normalization and comparison (its replay()), run with
the etcdctl binary (ETCDCTL_API=3) instead, and with all of stderr compared, not only its
last line (both sides are the same program here).

Members. Each scenario was recorded on a fresh etcd, so it needs a member in that state:
revision 1, no keys, no leases, itself the only member, no alarm. Their keys do collide
(kv_basic and txn both write foo; kv_basic's `get "" --prefix` and `del f --prefix` see
every key), and more to the point their answers hold absolute revisions (JSON headers,
`get --rev 2`, `watch --rev 1`, `compaction 3`) and whole lists (`lease list`, `member
list`), which any earlier write would shift. So the scenarios that change nothing (reads,
refusals, and requests that change no state: `alarm disarm`, `auth disable`, `move-leader`
to the leader itself, `snapshot save`, `defrag`) share one member for the module: kv_errors,
cluster, lease, maintenance, defrag. The others, listed in FRESH with what they change, each
get a fresh member. The shared member is checked after each scenario; one that changed it
fails, and the next gets a new member.

etcdctl is `etcdctl` on PATH or /usr/bin/etcdctl and must be 3.4.23 (Debian's etcd-client,
which .ci/run installs). Without it the tests fail when CI=true, and are skipped otherwise."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .member import Member
from .test_ctl_conformance import RECORDED, canon_by_design, replay

pytestmark = pytest.mark.integration

ETCDCTL_VERSION = "3.4.23"
# Server features petcd lacks for the real etcdctl (ctl_scenarios `needs`): none now.
UNSUPPORTED: set[str] = set()
# scenario -> what it changes, so that it needs a member of its own
FRESH = {
    "kv_basic": "writes and deletes keys; revisions from 1",
    "txn": "writes keys; revisions from 1",
    "compaction": "writes and compacts the history",
    "members": "adds members and leaves the cluster without a quorum",
    "watch": "writes, watches from revision 1, compacts",
    "interactive": "writes, watches from revision 1",
    "lease_ops": "grants leases (lease list lists them all), writes; revisions from 1",
    "auth_users": "adds users and roles, enables auth",
}
# (scenario, step index) -> why stdout may differ; the exit code and error still must match
KNOWN_STDOUT: dict[tuple[str, int], str] = {}
# etcdctl's environment: no ETCDCTL_* settings of the caller's
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")},
       "ETCDCTL_API": "3"}


def _params():
    for s in RECORDED["scenarios"]:
        lacking = sorted(set(s["needs"]) & UNSUPPORTED)
        marks = [pytest.mark.skip(reason=f"petcd lacks: {', '.join(lacking)}")] if lacking else []
        yield pytest.param(s, id=s["name"], marks=marks)


@pytest.fixture(scope="module")
def etcdctl() -> str:
    path = shutil.which("etcdctl") or "/usr/bin/etcdctl"
    if not os.access(path, os.X_OK):
        problem = ("etcdctl not found (neither on PATH nor /usr/bin/etcdctl): install "
                   "Debian's etcd-client (etcdctl 3.4.23), as .ci/run does")
    else:
        p = subprocess.run([path, "version"], capture_output=True, text=True, env=ENV,
                           timeout=30)
        first = (p.stdout.splitlines() or [""])[0]
        problem = (None if first == f"etcdctl version: {ETCDCTL_VERSION}" else
                   f"{path} says {first or p.stderr.strip()!r}; the recordings are "
                   f"etcdctl {ETCDCTL_VERSION}'s (Debian's etcd-client)")
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(problem)
        pytest.skip(problem)
    return path


class _Shared:
    """The module's member for the scenarios that change nothing; replaced once one did."""

    def __init__(self, tmp_path_factory) -> None:
        self.factory = tmp_path_factory
        self.member: Member | None = None

    def get(self) -> Member:
        if self.member is None:
            # the recorded member's name
            self.member = Member(self.factory.mktemp("etcdctl-shared"), "conformance")
            try:
                self.member.start()
            except Exception:
                self.member.stop()
                self.member = None
                raise
        return self.member

    def drop(self) -> None:
        if self.member is not None:
            self.member.stop()
            self.member = None


def _changed(member: Member) -> str:
    """How `member` differs from a fresh one ("" if it does not)."""
    try:
        return _differences(member)
    except (OSError, ValueError, KeyError) as e:
        return f"no answer: {e!r}"


def _differences(member: Member) -> str:
    found = []
    _, r = member.post("/v3/kv/range", {"key": "AA==", "range_end": "AA==",
                                        "count_only": True})
    if int(r["header"]["revision"]) != 1 or int(r.get("count", 0)):
        found.append(f"revision {r['header']['revision']}, {r.get('count', 0)} keys")
    _, r = member.post("/v3/lease/leases", {})
    if r.get("leases"):
        found.append(f"{len(r['leases'])} leases")
    _, r = member.post("/v3/cluster/member/list", {})
    if len(r.get("members", [])) != 1:
        found.append(f"{len(r.get('members', []))} members")
    _, r = member.post("/v3/maintenance/alarm", {"action": "GET"})
    if r.get("alarms"):
        found.append(f"alarms {r['alarms']}")
    return ", ".join(found)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    s = _Shared(tmp_path_factory)
    yield s
    s.drop()


@pytest.mark.parametrize("scenario", list(_params()))
def test_etcdctl_matches_etcd(etcdctl, shared, start_member, tmp_path, scenario):
    name = scenario["name"]
    fresh = name in FRESH
    m = start_member(name="conformance") if fresh else shared.get()
    try:
        replay(scenario, [etcdctl], m, KNOWN_STDOUT, env=ENV, cwd=tmp_path,
               canon=canon_by_design, stderr_lines=0)
    finally:
        changed = "" if fresh else _changed(m)
        if changed:
            shared.drop()
    assert not changed, f"{name} changed the shared member ({changed}): list it in FRESH"
