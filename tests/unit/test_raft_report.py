"""apply tells raft its applied index at most once per interval, at once for a batch that
changed membership or leases, and a held-back report goes out when the interval ends."""
from petcd.common.pipeline import Applied
from petcd.stages.apply.raft_report import RaftReport


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list = []

    def __call__(self) -> float:
        return self.now

    def later(self, delay_s: float, fn) -> None:
        self.timers.append((self.now + delay_s, fn))

    def advance(self, dt: float) -> None:
        self.now += dt
        due = [t for t in self.timers if t[0] <= self.now + 1e-9]
        self.timers = [t for t in self.timers if t[0] > self.now + 1e-9]
        for _, fn in due:
            fn()


def make(interval_s: float = 0.010):
    sent: list[Applied] = []
    clock = Clock()
    return RaftReport(sent.append, interval_s, clock.later, clock), sent, clock


def test_the_first_report_goes_at_once_and_later_ones_wait_out_the_interval():
    r, sent, clock = make()
    r.applied(Applied(1, 1))
    assert sent == [Applied(1, 1)]
    clock.advance(0.002)
    r.applied(Applied(2, 2))
    clock.advance(0.002)
    r.applied(Applied(3, 3))
    assert sent == [Applied(1, 1)]
    clock.advance(0.005)
    assert sent == [Applied(1, 1)]
    clock.advance(0.001)
    assert sent == [Applied(1, 1), Applied(3, 3)]   # only the latest, once
    clock.advance(0.050)
    assert sent == [Applied(1, 1), Applied(3, 3)]


def test_an_urgent_report_goes_at_once_and_leaves_nothing_held():
    r, sent, clock = make()
    r.applied(Applied(1, 1))
    clock.advance(0.001)
    r.applied(Applied(2, 2))
    r.applied(Applied(3, 3), urgent=True)
    assert sent == [Applied(1, 1), Applied(3, 3)]
    clock.advance(0.050)
    assert sent == [Applied(1, 1), Applied(3, 3)]


def test_a_report_after_a_quiet_interval_goes_at_once():
    r, sent, clock = make()
    r.applied(Applied(1, 1))
    clock.advance(0.020)
    r.applied(Applied(2, 2))
    assert sent == [Applied(1, 1), Applied(2, 2)]
    assert clock.timers == []
