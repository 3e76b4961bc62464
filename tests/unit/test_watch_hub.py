"""The watch hub and stream without processes: a fake history stands in for LMDB."""
import asyncio

from petcd.common.errors import ErrCompacted, EtcdError
from petcd.common.kv import (
    Event, EventType, FilterType, KeyValue, ResponseHeader, WatchCancelRequest,
    WatchCreateRequest, WatchProgressRequest, WatchRequest,
)
from petcd.stages.api.http.json_stream import JsonStream
from petcd.common.proto_size import response_size
from petcd.stages.api.watch_hub import SINGLE_KEY, Watcher, WatchHub
from petcd.stages.api.watch_stream import WatchStream, fragments


class FakeHistory:
    """events() as ReadView.events: whole history in memory, ErrCompacted below compact."""

    def __init__(self):
        self.log: list[Event] = []
        self.rev = 1
        self.compact = 0
        self.latest: dict[bytes, KeyValue] = {}
        self.reads = 0

    def txn(self, *ops):
        """ops: ("put", key, value) or ("del", key); one revision."""
        self.rev += 1
        for op in ops:
            key = op[1]
            prev = self.latest.get(key)
            if op[0] == "put":
                kv = KeyValue(key, prev.create_revision if prev else self.rev, self.rev,
                              prev.version + 1 if prev else 1, op[2])
                self.latest[key] = kv
                self.log.append(Event(EventType.PUT, kv, prev))
            else:
                self.latest.pop(key, None)
                self.log.append(Event(EventType.DELETE, KeyValue(key, mod_revision=self.rev),
                                      prev))
        return self.rev

    def current_revision(self):
        return self.rev

    def compact_revision(self):
        return self.compact

    def events(self, start, end=0, prev_kv=False, limit=0):
        self.reads += 1
        if start < self.compact:
            raise EtcdError(ErrCompacted.code, ErrCompacted.message)
        end = end or self.rev
        out = [e if prev_kv else Event(e.type, e.kv)
               for e in self.log if start <= e.kv.mod_revision <= end]
        return out[:limit] if limit else out


class Sink:
    def __init__(self):
        self.got: list[tuple[int, list[Event], int]] = []
        self.compacts: list[tuple[int, int]] = []

    def deliver(self, w, events, header_revision):
        self.got.append((w.id, list(events), header_revision))

    def compacted(self, w, compact_revision):
        self.compacts.append((w.id, compact_revision))


class Loop:
    """schedule() for the hub: run queued passes on demand."""

    def __init__(self):
        self.queue = []

    def __call__(self, fn):
        self.queue.append(fn)

    def run(self):
        while self.queue:
            self.queue.pop(0)()


def make(buffer_events=100, page_events=100):
    h = FakeHistory()
    loop = Loop()
    hub = WatchHub(h, buffer_events=buffer_events, page_events=page_events, schedule=loop)
    return h, hub, loop


def revs(got):
    return [e.kv.mod_revision for _, evs, _ in got for e in evs]


def test_live_events_one_response_per_revision_in_order():
    h, hub, loop = make()
    sink = Sink()
    w = Watcher(0, b"a", b"b", hub.revision + 1, sink)
    hub.add(w)
    h.txn(("put", b"a1", b"x"), ("put", b"a2", b"y"), ("put", b"zz", b"z"))
    h.txn(("put", b"a1", b"x2"))
    h.txn(("put", b"q", b"q"))
    hub.on_applied(h.rev)
    assert [(wid, [e.kv.key for e in evs], hr) for wid, evs, hr in sink.got] == [
        (0, [b"a1", b"a2"], 2), (0, [b"a1"], 3)]
    assert h.reads == 1  # one read for the whole announcement


def test_no_read_without_live_watchers():
    h, hub, loop = make()
    h.txn(("put", b"a", b"1"))
    hub.on_applied(h.rev)
    assert h.reads == 0 and hub.revision == 2


def test_single_key_filters_and_prev_kv():
    h, hub, loop = make()
    s1, s2, s3 = Sink(), Sink(), Sink()
    hub.add(Watcher(1, b"k", SINGLE_KEY, 2, s1, filters=(FilterType.NOPUT,), prev_kv=True))
    hub.add(Watcher(2, b"k", SINGLE_KEY, 2, s2, filters=(FilterType.NODELETE,)))
    hub.add(Watcher(3, b"k", SINGLE_KEY, 2, s3, prev_kv=True))
    h.txn(("put", b"k", b"v1"))
    h.txn(("put", b"kk", b"other"))
    h.txn(("del", b"k"))
    hub.on_applied(h.rev)
    assert [(e.type, e.kv.mod_revision, e.prev_kv.value) for _, evs, _ in s1.got for e in evs] \
        == [(EventType.DELETE, 4, b"v1")]
    assert [(e.type, e.kv.mod_revision, e.prev_kv) for _, evs, _ in s2.got for e in evs] \
        == [(EventType.PUT, 2, None)]
    assert revs(s3.got) == [2, 4]
    assert s3.got[1][1][0].prev_kv.value == b"v1"


def test_future_start_waits():
    h, hub, loop = make()
    sink = Sink()
    hub.add(Watcher(0, b"k", SINGLE_KEY, 4, sink))
    for i in range(5):
        h.txn(("put", b"k", b"%d" % i))
    hub.on_applied(h.rev)
    assert revs(sink.got) == [4, 5, 6]


def test_history_replay_batches_revisions_with_current_header():
    h, hub, loop = make()
    for i in range(5):
        h.txn(("put", b"k", b"%d" % i))
    hub.on_applied(h.rev)
    sink = Sink()
    w = Watcher(0, b"k", SINGLE_KEY, 3, sink)
    hub.add(w)
    assert not w.synced
    loop.run()
    assert [(revs([g]), g[2]) for g in sink.got] == [([3, 4, 5, 6], 6)]
    assert w.synced
    h.txn(("put", b"k", b"live"))
    hub.on_applied(h.rev)
    assert sink.got[-1][2] == 7 and revs(sink.got) == [3, 4, 5, 6, 7]


def test_pages_never_split_a_revision():
    h, hub, loop = make(buffer_events=1000, page_events=3)
    for i in range(4):
        h.txn(*[("put", b"k%d" % j, b"%d" % i) for j in range(2)])
    hub.on_applied(h.rev)
    sink = Sink()
    w = Watcher(0, b"k", b"l", 1, sink)
    hub.add(w)
    loop.run()
    assert len(sink.got) == 1  # one page, then it waits for its client to read it
    while not w.synced:
        w.pending_events = 0
        hub.drained(w)
        loop.run()
    for _, evs, _ in sink.got:
        assert len({e.kv.mod_revision for e in evs}) * 2 == len(evs)
    assert revs(sink.got) == [2, 2, 3, 3, 4, 4, 5, 5]
    # a revision larger than a page is read whole
    h.txn(*[("put", b"k%d" % j, b"big") for j in range(7)])
    hub.on_applied(h.rev)
    assert [len(evs) for _, evs, _ in sink.got][-1] == 7


def test_slow_watcher_goes_unsynced_and_catches_up_without_gap_or_dup():
    h, hub, loop = make(buffer_events=3, page_events=2)
    slow, fast = Sink(), Sink()
    ws = Watcher(0, b"k", SINGLE_KEY, 2, slow)
    wf = Watcher(1, b"k", SINGLE_KEY, 2, fast)
    hub.add(ws)
    hub.add(wf)
    for i in range(10):
        h.txn(("put", b"k", b"%d" % i))
        hub.on_applied(h.rev)
        wf.pending_events = 0  # the fast client reads everything at once
    assert revs(fast.got) == list(range(2, 12))
    assert revs(slow.got) == [2, 3, 4] and not ws.synced and hub.slow_watchers_total == 1
    assert len(h.latest) == 1
    # The slow client reads; each drain lets it catch up one page from the store.
    for _ in range(20):
        ws.pending_events = 0
        hub.drained(ws)
        loop.run()
        if ws.synced:
            break
    assert ws.synced
    h.txn(("put", b"k", b"live"))
    hub.on_applied(h.rev)
    assert revs(slow.got) == list(range(2, 13))
    assert ws.pending_events <= 3


def test_unsynced_watcher_compacted_is_canceled():
    h, hub, loop = make(buffer_events=1, page_events=1)
    sink = Sink()
    w = Watcher(4, b"k", SINGLE_KEY, 2, sink)
    hub.add(w)
    for i in range(3):
        h.txn(("put", b"k", b"%d" % i))
        hub.on_applied(h.rev)
    assert not w.synced
    h.compact = 4
    w.pending_events = 0
    hub.drained(w)
    loop.run()
    assert sink.compacts == [(4, 4)] and len(hub) == 0


def test_compacted_start_revision_is_canceled():
    h, hub, loop = make()
    for i in range(3):
        h.txn(("put", b"k", b"%d" % i))
    hub.on_applied(h.rev)
    h.compact = 3
    sink = Sink()
    hub.add(Watcher(0, b"k", SINGLE_KEY, 2, sink))
    loop.run()
    assert sink.compacts == [(0, 3)] and sink.got == []
    sink2 = Sink()
    hub.add(Watcher(1, b"k", SINGLE_KEY, 3, sink2))  # = compact revision: fine
    loop.run()
    assert revs(sink2.got) == [3, 4] and sink2.compacts == []


def test_remove_stops_delivery():
    h, hub, loop = make()
    sink = Sink()
    w = Watcher(0, b"", b"", 2, sink)  # from key "": every key
    hub.add(w)
    h.txn(("put", b"a", b"1"))
    hub.on_applied(h.rev)
    hub.remove(w)
    h.txn(("put", b"a", b"2"))
    hub.on_applied(h.rev)
    assert revs(sink.got) == [2] and len(hub) == 0


def test_many_single_key_watchers_use_the_index():
    h, hub, loop = make()
    sinks = [Sink() for _ in range(2000)]
    for i, s in enumerate(sinks):
        hub.add(Watcher(i, b"key%d" % i, SINGLE_KEY, 2, s))
    h.txn(("put", b"key7", b"x"), ("put", b"key1999", b"y"))
    hub.on_applied(h.rev)
    assert [i for i, s in enumerate(sinks) if s.got] == [7, 1999]


# -- the stream ------------------------------------------------------------------------------

def header(rev):
    return ResponseHeader(1, 2, rev, 3)


def run_stream(scenario):
    """scenario(stream, history, written) as a coroutine; returns the written responses."""
    async def main():
        h = FakeHistory()
        loop = asyncio.get_running_loop()
        hub = WatchHub(h, buffer_events=100, page_events=100, schedule=loop.call_soon)
        written = []

        async def send(rs):
            written.extend(rs)

        st = WatchStream(hub, header, send, fragment_bytes=1000, progress_interval_s=3600)
        task = asyncio.create_task(st.run())
        await scenario(st, h, hub, written)
        st.close()
        await task
        return written
    return asyncio.run(main())


def create(**kw):
    return WatchRequest(create_request=WatchCreateRequest(**kw))


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


def test_stream_ids_errors_cancel_and_progress():
    async def sc(st, h, hub, out):
        h.txn(("put", b"k", b"1"))
        st.request(create(key=b"k"))
        st.request(create(key=b"k", watch_id=7))
        st.request(create(key=b"k", watch_id=7))
        st.request(create(key=b"b", range_end=b"a"))
        st.request(create(key=b"k"))  # auto id 1
        st.request(WatchRequest(cancel_request=WatchCancelRequest(watch_id=99)))
        st.request(WatchRequest(progress_request=WatchProgressRequest()))
        st.request(WatchRequest(cancel_request=WatchCancelRequest(watch_id=7)))
        await settle()
    out = run_stream(sc)
    got = [(r.watch_id, r.created, r.canceled, r.cancel_reason, r.header.revision) for r in out]
    assert got == [
        (0, True, False, "", 2), (7, True, False, "", 2),
        (-1, True, True, "mvcc: duplicate watch ID provided on the WatchStream", 2),
        (-1, True, True, "mvcc: watcher range is empty", 2),
        (1, True, False, "", 2), (-1, False, False, "", 2), (7, False, True, "", 2)]


def test_stream_created_before_history_and_compaction_shape():
    async def sc(st, h, hub, out):
        for i in range(3):
            h.txn(("put", b"k", b"%d" % i))
        st.request(create(key=b"k", start_revision=2))
        await settle()
        h.compact = 4
        st.request(create(key=b"k", start_revision=1))
        await settle()
        st.request(create(key=b"k"))  # id 2: the compacted watcher keeps id 1
        await settle()
    out = run_stream(sc)
    assert out[0].created and out[0].header.revision == 4
    assert [e.kv.mod_revision for e in out[1].events] == [2, 3, 4]
    assert out[1].header.revision == 4
    assert out[2].created and out[2].watch_id == 1
    c = out[3]
    assert (c.watch_id, c.canceled, c.compact_revision, c.header.revision) == (1, True, 4, 0)
    assert out[4].created and out[4].watch_id == 2


def test_fragments_split_by_protobuf_size():
    big = [Event(EventType.DELETE, KeyValue(b"k%d" % i, mod_revision=5),
                 KeyValue(b"k%d" % i, 2, 2, 1, b"x" * 400)) for i in range(5)]
    from petcd.common.kv import WatchResponse
    wr = WatchResponse(header=header(5), watch_id=3, events=tuple(big))
    parts = fragments(wr, 1000)
    assert [len(p.events) for p in parts] == [2, 2, 1]
    assert [p.fragment for p in parts] == [True, True, False]
    assert all(response_size(p) < 1000 for p in parts[:-1])
    assert sum((p.events for p in parts), ()) == wr.events
    assert fragments(wr, 10_000) == [wr]
    one = WatchResponse(header=header(5), events=tuple(big[:1]))
    assert fragments(one, 10) == [one]


def test_proto_size_matches_protobuf_encoding():
    # WatchResponse{header{cluster_id:1,member_id:2,revision:3,raft_term:4}, watch_id:-1,
    # created:true, events:[{type:DELETE, kv{key:"a", mod_revision:300}}]} in protobuf:
    from petcd.common.kv import WatchResponse
    wr = WatchResponse(header=ResponseHeader(1, 2, 3, 4), watch_id=-1, created=True,
                       events=(Event(EventType.DELETE, KeyValue(b"a", mod_revision=300)),))
    encoded = (b"\x0a\x08\x08\x01\x10\x02\x18\x03\x20\x04" + b"\x10" + b"\xff" * 9 + b"\x01"
               + b"\x18\x01" + b"\x5a\x0b\x08\x01\x12\x07\x0a\x01a\x18\xac\x02")
    assert response_size(wr) == len(encoded)


def test_json_stream_splits_values_across_chunks():
    s = JsonStream(1000)
    assert s.feed(b'{"a":1} {"b') == [b'{"a":1}']
    assert s.feed(b'":2}\n{') == [b' {"b":2}']
    assert s.feed(b'}') == [b"\n{}"]
    assert s.end() == []
    s = JsonStream(1000)
    assert s.feed(b'{}bad') == [b"{}"]
    try:
        s.feed(b"")
    except Exception as e:
        assert str(e) == "invalid character 'b' looking for beginning of value"
    else:
        raise AssertionError("no error")


def test_compaction_applied_in_one_jump_keeps_a_future_watch():
    """A lagging member applies many revisions and a compaction in one batch: its live
    watchers go to the unsynced path, and one that waits for a future revision at or above
    the compact revision is not canceled (robustness seed 303)."""
    h, hub, loop = make()
    h.txn(("put", b"k", b"0"))
    hub.on_applied(h.rev)
    sink = Sink()
    hub.add(Watcher(0, b"k", SINGLE_KEY, 6, sink))
    hub.add(Watcher(1, b"j", SINGLE_KEY, 0, Sink()))  # a live listener, so the hub reads
    for i in range(6):
        h.txn(("put", b"k", b"%d" % i))
    h.compact = 6
    hub.on_applied(h.rev)
    loop.run()
    assert sink.compacts == [] and revs(sink.got) == [6, 7, 8]


def test_no_progress_notify_for_a_watcher_the_catch_up_unsynced():
    # Robustness seed 35002: a member whose apply stalled caught up in one go at a progress
    # tick; the watcher's buffer overflowed and it was unsynced, yet it was sent a progress
    # notify at the new revision, ahead of the events it had still to read.
    async def sc(st, h, hub, out):
        st.request(create(key=b"a", range_end=b"b", progress_notify=True))
        await settle()
        h.txn(("put", b"a1", b"x"))
        hub.on_applied(h.rev)  # one event buffered, not yet written
        h.txn(*(("put", b"a%03d" % i, b"y") for i in range(100)))
        st._progress_tick()  # catches up: 1 + 100 events pass buffer_events (100)
        await settle()
    out = run_stream(sc)
    seen = 0
    for r in out:
        if r.events:
            assert r.events[0].kv.mod_revision > seen, "an event at or below a progress notify"
            seen = r.events[-1].kv.mod_revision
        elif r.watch_id == 0 and not r.created:
            seen = max(seen, r.header.revision)
    assert seen == 3 and sum(len(r.events) for r in out) == 101


def test_no_progress_notify_ahead_of_a_catch_up_past_a_compaction():
    # The path seed 35002 took: a future watch (from 5), the member's apply stalled, then a
    # batch holding a compaction (at 3) and revisions up to 8. The catch-up read from 2 fails
    # as compacted, so the watcher is unsynced and reads from 5 on the next pass; the progress
    # notify at 8 must not go out before those events.
    async def sc(st, h, hub, out):
        st.request(create(key=b"a", range_end=b"b", start_revision=5, progress_notify=True))
        await settle()
        for i in range(7):
            h.txn(("put", b"a%d" % i, b"x"))
        h.compact = 3
        st._progress_tick()
        await settle()
    out = run_stream(sc)
    kinds = [("events", [e.kv.mod_revision for e in r.events]) if r.events else
             ("notify", r.header.revision) for r in out if not r.created]
    assert kinds[0] == ("events", [5, 6, 7, 8]), kinds
