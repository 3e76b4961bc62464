"""etcd's watch guarantees, checked per stream against a replay of the writes.

Theory of operation (etcd's api_guarantees "Watch APIs", and its robustness validation):
- Filter: every event is on the watched key or range.
- Ordered: event revisions never go down along a stream.
- Unique: no (revision, key) event twice.
- Atomic: all events of one revision arrive in one response.
- Bookmarkable: a progress notify at N promises every event <= N was sent, so no later event
  is <= N, and N is not below an event already sent.
- IsCreate: a PUT event is a creation (create_revision == mod_revision) iff its version is 1.
- PrevKV: with prev_kv asked, it is the key's value at revision - 1 (None tolerated when that
  value was compacted away); without, none is sent.
- Resumable: the first event is the first event of the replay on the range at or after the
  start revision (a stream opened at 0 starts after its created response's header revision),
  unless the watch was canceled because the start was compacted.
- Reliable: from the start (or the first event) up to the last event or progress notify, the
  stream holds exactly the replay's events on the range, in order: no gap, nothing invented.

The replay is the truth here, so run this only on a history found linearizable (or on a replay
built from the watch events themselves, which checks only the per-stream properties). Each
finding is one human-readable line naming the stream and the event.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from tests.robustness.history import Event, WatchStream, in_range, prefix_end
from tests.robustness.replay import Replay


_ORDER_ONLY = "events differ from the replay in order or multiplicity"


def _bare(e: Event) -> Event:
    return replace(e, prev_kv=None)


def _show(e: Event) -> str:
    return (f"{e.type} {e.key}={e.value!r} rev {e.mod_revision} (create {e.create_revision}, "
            f"ver {e.version})")


def _describe_range(key: str, range_end: str) -> str:
    if range_end == "":
        return f"key {key!r}"
    if range_end == "\0":
        return f"keys >= {key!r}"
    if range_end == prefix_end(key):
        return f"prefix {key!r}"
    return f"[{key!r}, {range_end!r})"


def check_watches(streams: Sequence[WatchStream], replay: Replay) -> list[str]:
    out: list[str] = []
    for n, stream in enumerate(streams):
        out.extend(check_stream(n, stream, replay))
    return out


def check_stream(n: int, stream: WatchStream, replay: Replay) -> list[str]:
    req = stream.request
    name = (f"watch #{n} on {_describe_range(req.key, req.range_end)} from revision "
            f"{req.start_revision}{' on ' + req.member if req.member else ''}")
    out: list[str] = []
    events = [(ri, e) for ri, resp in enumerate(stream.responses) for e in resp.events]

    last_rev, seen, response_of = 0, set(), {}
    for ri, e in events:
        if not in_range(e.key, req.key, req.range_end):
            out.append(f"{name}: event outside the watched range: {_show(e)}")
        if e.mod_revision < last_rev:
            out.append(f"{name}: out of order: {_show(e)} after revision {last_rev}")
        last_rev = max(last_rev, e.mod_revision)
        if (e.mod_revision, e.key) in seen:
            out.append(f"{name}: duplicated event: {_show(e)}")
        seen.add((e.mod_revision, e.key))
        if response_of.setdefault(e.mod_revision, ri) != ri:
            out.append(f"{name}: revision {e.mod_revision} split across responses "
                       f"{response_of[e.mod_revision]} and {ri}")
        if e.type == "PUT" and (e.create_revision == e.mod_revision) != (e.version == 1):
            out.append(f"{name}: wrong is-create: {_show(e)}")
        out.extend(_check_prev_kv(name, req.prev_kv, e, replay))

    last_event, notified = 0, 0
    for resp in stream.responses:
        if resp.progress_notify:
            if resp.header_revision < last_event:
                out.append(f"{name}: progress notify at revision {resp.header_revision} below an "
                           f"event already sent at revision {last_event}")
            notified = max(notified, resp.header_revision)
        for e in resp.events:
            if e.mod_revision <= notified:
                out.append(f"{name}: {_show(e)} sent after a progress notify at revision "
                           f"{notified}")
            last_event = max(last_event, e.mod_revision)

    compacted = next((r for r in stream.responses if r.canceled and r.compact_revision), None)
    if compacted is not None:
        if req.start_revision == 0 or req.start_revision >= compacted.compact_revision:
            out.append(f"{name}: canceled as compacted at {compacted.compact_revision} but its "
                       f"start revision {req.start_revision} was not compacted")
        return out
    reliable = _check_reliable(name, stream, [e for _, e in events], replay, notified)
    if out and reliable == [f"{name}: {_ORDER_ONLY}"]:
        reliable = []    # a duplicate or reordering, already reported above
    return out + reliable


def _check_prev_kv(name: str, asked: bool, e: Event, replay: Replay) -> list[str]:
    if not asked:
        return [] if e.prev_kv is None else [f"{name}: prev_kv sent unasked on {_show(e)}"]
    expected = replay.kv_at(e.key, e.mod_revision - 1)
    if e.prev_kv == expected:
        return []
    if e.prev_kv is None and expected is not None and expected.mod_revision < replay.max_compaction:
        return []   # etcd drops prev_kv it can no longer read
    return [f"{name}: wrong prev_kv on {_show(e)}: got {e.prev_kv!r}, replay has {expected!r}"]


def _start(stream: WatchStream) -> int | None:
    if stream.request.start_revision:
        return stream.request.start_revision
    created = next((r for r in stream.responses if r.created), None)
    return None if created is None else created.header_revision + 1


def _check_reliable(name: str, stream: WatchStream, got: list[Event], replay: Replay,
                    notified: int) -> list[str]:
    req = stream.request
    start = _start(stream)
    low = start if start is not None else (got[0].mod_revision if got else None)
    high = max([notified] + [e.mod_revision for e in got])
    if low is None or high < low:
        return []
    want = [_bare(e) for e in replay.events_between(low, high, req.key, req.range_end)]
    got = [_bare(e) for e in got]
    if got == want:
        return []
    if got and want and got[0] != want[0] and start is not None:
        first = f"first event {_show(got[0])}, but the first replayed event from {start} is " \
                f"{_show(want[0])}"
        return [f"{name}: not resumable: {first}"]
    want_set, got_set = set(want), set(got)
    missing = [e for e in want if e not in got_set]
    extra = [e for e in got if e not in want_set]
    out = [f"{name}: missing event (gap): {_show(e)}" for e in missing[:5]]
    out += [f"{name}: unexpected event (the replay has none such on this range): {_show(e)}"
            for e in extra[:5]]
    if not out:
        out.append(f"{name}: {_ORDER_ONLY}")
    return out
