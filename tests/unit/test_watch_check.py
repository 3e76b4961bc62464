"""Watch guarantees and replay-based reads: good streams pass, each kind of broken stream is
named, and validate() runs them after the linearizability check."""
from dataclasses import replace

from tests.robustness.history import (
    Delete, Event, Get, History, KeyValue, Operation, Put, Range, RangeResponse, Txn,
    WatchRequest, WatchResponse, WatchStream, prefix_end,
)
from tests.robustness.reads_check import check_reads
from tests.robustness.replay import Replay
from tests.robustness.validate import validate
from tests.robustness.watch_check import check_watches
from tests.unit.history_sim import simulate

# The writes: rev 2 a=1, 3 b=1, 4 a=2, 5 delete b, 6 txn {a=3, c=1}, 7 x=1.
WRITES = [Put("a", "1"), Put("b", "1"), Put("a", "2"), Delete("b"),
          Txn((), (Put("a", "3"), Put("c", "1"))), Put("x", "1")]


def replay() -> Replay:
    ops = tuple(Operation(0, i, i, w, None) for i, w in enumerate(WRITES))
    return Replay.from_linearization(ops, range(len(ops)))


EVENTS = replay().events   # with prev_kv


def by_revision(events):
    out: dict[int, list] = {}
    for e in events:
        out.setdefault(e.mod_revision, []).append(e)
    return [tuple(v) for _, v in sorted(out.items())]


def stream(events=EVENTS, key="", range_end="\0", start=1, prev_kv=True, extra=()):
    """A stream opened at `start`, one response per revision, then any `extra` responses."""
    if not prev_kv:
        events = [replace(e, prev_kv=None) for e in events]
    responses = [WatchResponse((), 1, created=True)]
    responses += [WatchResponse(evs, evs[0].mod_revision) for evs in by_revision(events)]
    return WatchStream(WatchRequest(key, range_end, start, prev_kv), tuple(responses) + extra)


def problems(*streams):
    return check_watches(streams, replay())


def only(found, word):
    assert found and all(word in p for p in found), found


def test_replay_answers_the_past():
    r = replay()
    assert r.last_revision == 7
    assert r.kv_at("a", 3) == KeyValue("a", "1", 2, 2, 1)
    assert r.kv_at("b", 5) is None and r.kv_at("b", 4) == KeyValue("b", "1", 3, 3, 1)
    assert [e.key for e in r.events_between(6, 6)] == ["a", "c"]   # sub-revision order
    assert r.read_at(Range("", "\0"), 4).count == 2


def test_good_streams_pass():
    notify = (WatchResponse((), 7, progress_notify=True),)
    assert problems(stream(extra=notify)) == []
    assert problems(stream(prev_kv=False)) == []
    only_a = [e for e in EVENTS if e.key == "a"]
    assert problems(stream(only_a, key="a", range_end="")) == []
    # From revision 4 on the prefix "a", a stream opened at 0 after revision 3, atomic txn.
    assert problems(stream([e for e in only_a if e.mod_revision >= 4], key="a",
                           range_end=prefix_end("a"), start=4)) == []
    late = stream([e for e in EVENTS if e.mod_revision >= 4], start=0)
    late = replace(late, responses=(WatchResponse((), 3, created=True),) + late.responses[1:])
    assert problems(late) == []


def test_duplicated_event():
    dup = stream(extra=(WatchResponse((EVENTS[2],), 4),))
    found = problems(dup)
    assert any("duplicated event" in p for p in found), found


def test_gap():
    found = problems(stream([e for e in EVENTS if e.mod_revision != 4]))
    only(found, "missing event (gap): PUT a='2' rev 4")


def test_out_of_order():
    s = stream()
    responses = list(s.responses)
    responses[2], responses[3] = responses[3], responses[2]
    found = problems(replace(s, responses=tuple(responses)))
    assert any("out of order" in p for p in found), found


def test_revision_split_across_responses():
    s = stream()
    txn = next(r for r in s.responses if len(r.events) == 2)
    i = s.responses.index(txn)
    split = (WatchResponse(txn.events[:1], 6), WatchResponse(txn.events[1:], 6))
    found = problems(replace(s, responses=s.responses[:i] + split + s.responses[i + 1:]))
    only(found, "revision 6 split across responses")


def test_wrong_prev_kv():
    events = list(EVENTS)
    events[2] = replace(events[2], prev_kv=KeyValue("a", "9", 2, 2, 1))
    only(problems(stream(events)), "wrong prev_kv on PUT a='2' rev 4")
    events = [replace(e, prev_kv=KeyValue("a", "1", 2, 2, 1)) if i == 0 else e
              for i, e in enumerate(EVENTS)]
    only(problems(stream(events)), "wrong prev_kv")    # a creation has no prev_kv
    unasked = replace(stream(), request=WatchRequest("", "\0", 1, prev_kv=False))
    only(problems(unasked), "prev_kv sent unasked")


def test_wrong_is_create():
    events = list(EVENTS)
    events[2] = replace(events[2], create_revision=4)     # version 2 but created "now"
    found = problems(stream(events))
    assert any("wrong is-create" in p for p in found), found


def test_event_outside_the_watched_prefix():
    found = problems(stream(EVENTS, key="a", range_end=prefix_end("a")))
    assert found and all("outside the watched range" in p or "unexpected event" in p
                         for p in found), found
    assert any("outside the watched range: PUT b='1'" in p for p in found)


def test_progress_notify_below_an_earlier_event():
    notify = (WatchResponse((), 5, progress_notify=True),)
    only(problems(stream(extra=notify)), "progress notify at revision 5 below an event")
    # An event at or below a progress notify's revision after it.
    s = stream([e for e in EVENTS if e.mod_revision <= 3])
    s = replace(s, responses=s.responses + (WatchResponse((), 4, progress_notify=True),
                                             WatchResponse((EVENTS[2],), 4)))
    found = problems(s)
    assert any("sent after a progress notify at revision 4" in p for p in found), found


def test_progress_notify_promises_every_event_before_it():
    s = stream([e for e in EVENTS if e.mod_revision <= 3],
               extra=(WatchResponse((), 7, progress_notify=True),))
    found = problems(s)
    assert any("missing event (gap): PUT a='2' rev 4" in p for p in found), found


def test_not_resumable():
    found = problems(stream([e for e in EVENTS if e.mod_revision >= 4], start=3))
    only(found, "not resumable: first event PUT a='2' rev 4")


def test_compacted_watch():
    canceled = WatchStream(WatchRequest("", "\0", 2), (
        WatchResponse((), 7, compact_revision=4, canceled=True),))
    assert problems(canceled) == []
    wrong = replace(canceled, request=WatchRequest("", "\0", 5))
    only(problems(wrong), "canceled as compacted")


def test_invented_event():
    fake = Event("PUT", "a", "1", 5, 2, 2, KeyValue("a", "2", 4, 2, 2))
    s = stream([e for e in EVENTS if e.mod_revision < 5] + [fake])
    found = problems(s)
    assert any("unexpected event (the replay has none such on this range): PUT a='1' rev 5"
               in p for p in found), found


def test_reads_against_the_replay():
    r = replay()

    def read(request, response):
        return Operation(0, 0, 1, request, response)

    good = [
        read(Get("a", serializable=True), RangeResponse(3, (KeyValue("a", "1", 2, 2, 1),), 1)),
        read(Get("a", revision=4), RangeResponse(7, (KeyValue("a", "2", 4, 2, 2),), 1)),
        read(Range("", "\0", revision=5, limit=1, keys_only=True),
             RangeResponse(7, (KeyValue("a", "", 4, 2, 2),), 1)),
    ]
    assert check_reads(good, r) == []
    stale_wrong = read(Get("a", serializable=True),
                       RangeResponse(5, (KeyValue("a", "1", 2, 2, 1),), 1))
    found = check_reads([stale_wrong], r)
    assert len(found) == 1 and "differs from the replay at revision 5" in found[0]
    future = read(Get("a", serializable=True), RangeResponse(9, (), 0))
    assert "beyond the last written revision" in check_reads([future], r)[0]


def test_validate_runs_watch_checks_on_a_linearizable_history():
    h = simulate(5, n_ops=200, unknown_rate=0.05, watches=4)
    assert validate(h).ok is True
    s = next(s for s in h.watches if any(r.events for r in s.responses))
    i = next(i for i, r in enumerate(s.responses) if r.events)
    broken = replace(s, responses=s.responses[:i] + s.responses[i + 1:])   # drop one
    bad = History(h.operations, (broken,) + h.watches[1:])
    report = validate(bad)
    assert report.ok is False and report.linearizability.ok is True
    assert any("missing event" in v or "not resumable" in v for v in report.violations), \
        report.violations


def test_replay_from_watch_events_alone():
    r = Replay.from_events(e for s in (stream(), stream()) for resp in s.responses
                           for e in resp.events)
    assert [(e.mod_revision, e.key) for e in r.events] == \
        [(e.mod_revision, e.key) for e in EVENTS]
    assert [e.prev_kv for e in r.events] == [e.prev_kv for e in EVENTS]
    assert check_watches([stream()], r) == []
