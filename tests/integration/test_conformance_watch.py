"""Side by side with a real etcd 3.4.23: replay every recorded watch scenario
(tests/conformance/recorded/watch.json, made by `python -m tests.conformance.record_watch`)
against a fresh petcd member and compare each step's result with etcd's."""
import json

import pytest

from tests.conformance.record_watch import play, same
from tests.conformance.recordings import load

pytestmark = pytest.mark.integration

SCENARIOS = load("watch.json")["scenarios"]


class _Ids:
    def __init__(self, member, cluster_id, member_id):
        self.client_port = member.client_port
        self.peer_port = member.peer_port
        self.cluster_id = cluster_id
        self.member_id = member_id


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_watch_scenario_matches_etcd(scenario, start_member):
    # etcd was recorded with a 1 s progress-notify interval (record_watch.ETCD_ARGS)
    m = start_member(name="conformance",
                     extra_args=("--watch-progress-notify-interval-ms", "1000"))
    _, _, body = m.request("POST", "/v3/cluster/member/list", b"{}")
    header = json.loads(body)["header"]
    ids = _Ids(m, header["cluster_id"], header["member_id"])
    steps = [s["step"] for s in scenario["steps"]]
    got = play(m.client_port, {"steps": steps}, ids)
    mismatches = [f"step {i}: {steps[i]}\n  want {s['result']}\n  got  {g}"
                  for i, (s, g) in enumerate(zip(scenario["steps"], got))
                  if not same(s["result"], g)]
    assert not mismatches, f"{len(mismatches)} step(s) differ:\n" + "\n".join(mismatches)
