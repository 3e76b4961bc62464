"""Side by side with a real etcd 3.4.23: replay every recorded watch scenario
(tests/conformance/recorded/watch.json, made by `python -m tests.conformance.record_watch`)
against a fresh petcd member and compare each step's result with etcd's."""

import pytest

from tests.conformance.record_watch import play, same
from tests.conformance.recordings import MemberIds, load

pytestmark = pytest.mark.integration

SCENARIOS = load("watch.json")["scenarios"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_watch_scenario_matches_etcd(scenario, start_member):
    # etcd was recorded with a 1 s progress-notify interval (record_watch.ETCD_ARGS)
    m = start_member(name="conformance",
                     extra_args=("--watch-progress-notify-interval-ms", "1000"))
    ids = MemberIds(m)
    steps = [s["step"] for s in scenario["steps"]]
    got = play(m.client_port, {"steps": steps}, ids)
    mismatches = [f"step {i}: {steps[i]}\n  want {s['result']}\n  got  {g}"
                  for i, (s, g) in enumerate(zip(scenario["steps"], got))
                  if not same(s["result"], g)]
    assert not mismatches, f"{len(mismatches)} step(s) differ:\n" + "\n".join(mismatches)
