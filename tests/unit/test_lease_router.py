"""LeaseRouter: a question waits until the lessor has heard of every lease change the asker
has seen applied (a keep-alive right after its grant found no lease; CI caught that race)."""
from types import SimpleNamespace

from petcd.common.lease import LeaseAnswer, LeaseAsk, LeaseChanges
from petcd.stages.raft.lease_router import LeaseRouter
from petcd.stages.raft.lessor import Lessor


class Pipe:
    def __init__(self):
        self.sent = []

    def send(self, value, topic=b""):
        self.sent.append(value)


def router(applied: int):
    log = SimpleNamespace(applied=applied)
    raft = SimpleNamespace(log=log, lead=1, state=None)
    node = SimpleNamespace(node_id=1, rawnode=SimpleNamespace(raft=raft))
    lessor = Lessor(revoke_rate_per_s=1000, checkpoint_interval_s=0)
    lessor.promote(0.0, extend_s=0.0)
    readc, sendc = Pipe(), Pipe()
    return LeaseRouter(node, lessor, sendc, readc, propose=lambda d: True), lessor, log, readc


def test_an_ask_waits_for_the_lease_changes_its_asker_has_seen():
    r, lessor, log, readc = router(applied=5)
    r.ask(LeaseAsk(origin=1, worker=1, ctx=b"c", lease_id=9, renew=True, min_index=7), 1.0)
    assert readc.sent == []                       # the grant at index 7 is not known yet
    lessor.apply_changes(LeaseChanges(granted=((9, 30, 0),)), 1.0)
    log.applied = 7
    r.on_applied(1.0)
    assert readc.sent == [LeaseAnswer(1, 1, b"c", 30, 30, to=1)]


def test_an_ask_the_lessor_is_caught_up_for_is_answered_at_once():
    r, _, _, readc = router(applied=7)
    r.ask(LeaseAsk(origin=1, worker=1, ctx=b"c", lease_id=9, renew=False, min_index=7), 1.0)
    assert readc.sent == [LeaseAnswer(1, 1, b"c", -1, 0, to=1)]
