"""The client's native watch stream without sockets: acks follow what the caller consumed,
errors are typed, close is sent once."""
import pytest

from petcd.client import errors
from petcd.client.zmq_stream import NativeStream


class FakeMux:
    def __init__(self):
        self.sent, self.forgotten = [], []

    def send(self, doc):
        self.sent.append(doc)

    def forget(self, sid):
        self.forgotten.append(sid)
        return len(self.forgotten) == 1


def resp(rev):
    return {"header": {"revision": rev}, "events": [{"kv": {"key": b"k", "mod_revision": rev}}]}


def test_acks_are_sent_for_consumed_frames_in_quarters_of_the_window():
    mux = FakeMux()
    st = NativeStream(mux, 3, window_bytes=4000)
    st.on_frame({"stream": 3, "opened": {"window_bytes": 1000, "keepalive_ms": 900}}, 50)
    assert (st.window_bytes, st.keepalive_s) == (1000, 0.9)  # the server's smaller window
    st.on_frame({"stream": 3, "responses": [resp(2), resp(3)]}, 200)
    st.on_frame({"stream": 3, "responses": [resp(4)]}, 100)
    assert [next(st).header.revision for _ in range(2)] == [2, 3]
    assert mux.sent == []                 # the first frame is not consumed until asked again
    assert next(st).header.revision == 4
    assert mux.sent == []                 # 200 bytes consumed: below a quarter (250)
    st.on_frame({"stream": 3, "responses": [resp(5)]}, 100)
    next(st)
    assert mux.sent == [{"stream": 3, "ack": 300}]


def test_an_error_frame_ends_the_stream_with_a_typed_error():
    st = NativeStream(FakeMux(), 1, window_bytes=1000)
    st.on_frame({"stream": 1, "opened": {}}, 10)
    st.on_frame({"stream": 1, "error": {"code": 14, "message": "etcdserver: no leader"}}, 10)
    with pytest.raises(errors.Unavailable) as e:
        next(st)
    assert e.value.message == "etcdserver: no leader"


def test_an_error_before_opened_is_the_open_answer():
    st = NativeStream(FakeMux(), 1, window_bytes=1000)
    st.on_frame({"stream": 1, "error": {"code": 8, "message": "too many"}}, 10)
    assert st.opened.is_set() and isinstance(st.open_error, errors.ResourceExhausted)


def test_close_sends_one_close_frame_and_ends_iteration():
    mux = FakeMux()
    st = NativeStream(mux, 2, window_bytes=1000)
    st.close()
    st.close()
    assert mux.sent == [{"stream": 2, "close": True}]
    with pytest.raises(StopIteration):
        next(st)
