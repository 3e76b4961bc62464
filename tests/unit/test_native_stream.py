"""The native protocol's stream frames, stream credit and the no-leader count, without sockets."""
import msgpack
import pytest

from petcd.common.errors import Code, EtcdError
from petcd.common.kv import Event, KeyValue, ResponseHeader, WatchResponse
from petcd.stages.api.native import stream as ns
from petcd.stages.api.leader_monitor import MAX_NO_LEADER_CHECKS, NoLeaderCount


def unpack(b: bytes) -> dict:
    return msgpack.unpackb(b, raw=False)


def test_stream_frames_parse_to_their_operation():
    assert ns.parse({"stream": 3, "open": {"method": "Watch", "require_leader": True,
                                           "window_bytes": 4096}}) == \
        ns.StreamOpen(3, "Watch", True, 4096)
    assert ns.parse({"stream": 3, "open": {}}) == ns.StreamOpen(3, "Watch", False, 0)
    assert ns.parse({"stream": 3, "request": {"progress_request": {}}}) == \
        ns.StreamRequest(3, {"progress_request": {}})
    assert ns.parse({"stream": 3, "ack": 100}) == ns.StreamAck(3, 100)
    assert ns.parse({"stream": 3, "ack": -5}) == ns.StreamAck(3, 0)
    assert ns.parse({"stream": 3, "ping": 9}) == ns.StreamPing(3, 9)
    assert ns.parse({"stream": 3, "close": True}) == ns.StreamClose(3)


def test_only_frames_with_a_stream_and_no_id_are_stream_frames():
    assert ns.is_stream_frame({"stream": 1, "ping": 1})
    assert not ns.is_stream_frame({"id": 1, "stream": 1, "method": "Put"})
    assert not ns.is_stream_frame({"id": 1, "method": "Put"})
    assert not ns.is_stream_frame([1, 2])


@pytest.mark.parametrize("doc, sid, fragment", [
    ({"stream": 0, "ping": 1}, 0, "positive integer"),
    ({"stream": True, "ping": 1}, 0, "positive integer"),
    ({"stream": 2, "open": []}, 2, "open must be a map"),
    ({"stream": 2, "open": {"require_leader": "yes"}}, 2, "require_leader"),
    ({"stream": 2, "request": [1]}, 2, "request must be a map"),
    ({"stream": 2, "ack": "10"}, 2, "ack must be an integer"),
    ({"stream": 2}, 2, "needs one of"),
])
def test_bad_stream_frames_name_their_stream_and_the_fault(doc, sid, fragment):
    with pytest.raises(ns.StreamFrameError) as e:
        ns.parse(doc)
    assert e.value.stream == sid and fragment in e.value.message
    assert e.value.code == Code.INVALID_ARGUMENT


def response(rev: int, value_bytes: int = 10) -> WatchResponse:
    kv = KeyValue(b"k", 2, rev, 1, b"x" * value_bytes)
    return WatchResponse(header=ResponseHeader(1, 2, rev, 3), watch_id=rev % 3,
                         events=(Event(kv=kv),))


def test_response_frames_keep_order_and_stay_under_the_frame_size():
    responses = [response(r, 1000) for r in range(2, 60)]
    frames = ns.response_frames(7, responses, 8192)
    assert len(frames) > 1 and all(len(f) <= 8192 for f in frames)
    docs = [unpack(f) for f in frames]
    assert all(d["stream"] == 7 and set(d) == {"stream", "responses"} for d in docs)
    revs = [r["header"]["revision"] for d in docs for r in d["responses"]]
    assert revs == list(range(2, 60))
    first = docs[0]["responses"][0]
    assert first["events"][0]["kv"]["value"] == b"x" * 1000 and first["watch_id"] == 2


def test_a_response_larger_than_a_frame_goes_alone():
    frames = ns.response_frames(1, [response(2), response(3, 50_000), response(4)], 4096)
    assert [len(unpack(f)["responses"]) for f in frames] == [1, 1, 1]


def test_control_frames():
    assert unpack(ns.opened(2, 4096, 1000)) == {
        "stream": 2, "opened": {"window_bytes": 4096, "keepalive_ms": 1000}}
    assert unpack(ns.pong(2, 5)) == {"stream": 2, "pong": 5}
    assert unpack(ns.closed(2)) == {"stream": 2, "closed": True}
    assert unpack(ns.error(2, EtcdError(Code.UNAVAILABLE, "etcdserver: no leader"))) == {
        "stream": 2, "error": {"code": 14, "message": "etcdserver: no leader"}}


def test_credit_allows_one_frame_past_the_window_and_acks_return_it():
    c = ns.Credit(1000)
    assert c.can_send()
    c.sent(600)
    assert c.can_send()
    c.sent(600)          # the frame that crosses the window still went
    assert not c.can_send() and c.in_flight == 1200
    c.ack(100)
    assert not c.can_send()
    c.ack(200)
    assert c.can_send()
    c.ack(10_000)        # acking more than was sent buys nothing beyond the window
    assert c.in_flight == 0


def test_no_leader_count_fires_after_consecutive_misses_only():
    n = NoLeaderCount()
    assert [n.check(False) for _ in range(MAX_NO_LEADER_CHECKS - 1)] == [False] * 2
    assert n.check(True) is False          # a leader resets the count
    assert [n.check(False) for _ in range(MAX_NO_LEADER_CHECKS)] == [False, False, True]
    assert n.check(False) is True          # and keeps firing while there is none
