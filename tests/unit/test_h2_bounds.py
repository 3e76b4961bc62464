"""The HTTP/2 bounds of a gRPC connection (stages/api/grpc/h2_bounds.py), in memory: an h2
client talks to a BoundedH2Connection; refused streams get grpc-go's RST_STREAM codes, and the
connection (and its HPACK table) serves on."""
from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import Frame

from petcd.stages.api import limits
from petcd.stages.api.grpc.h2_bounds import BoundedH2Connection

HEADERS = [(":method", "POST"), (":scheme", "http"), (":path", "/etcdserverpb.KV/Range"),
           (":authority", "x"), ("content-type", "application/grpc"), ("te", "trailers")]


class Pair:
    def __init__(self, max_concurrent_streams: int = 2, max_header_list_size: int = 4096):
        self.server = BoundedH2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None),
            max_concurrent_streams=max_concurrent_streams,
            max_header_list_size=max_header_list_size)
        self.server.initiate_connection()
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.client.initiate_connection()
        # the client sends before it has read the server's SETTINGS, as a hostile one may
        self.to_server = self.client.data_to_send()
        self.to_client = self.server.data_to_send()

    def flush(self):
        """Client bytes to the server; the server's events and the frames it sent back."""
        events = self.server.receive_data(self.to_server + self.client.data_to_send())
        self.to_server = b""
        out = self.to_client + self.server.data_to_send()
        self.to_client = b""
        frames = []
        while out:
            frame, length = Frame.parse_frame_header(memoryview(out[:9]))
            frame.parse_body(memoryview(out[9:9 + length]))
            frames.append(frame)
            out = out[9 + length:]
        return events, frames


def resets(frames):
    return [(f.stream_id, f.error_code) for f in frames if f.type == 0x3]


def opened(events):
    return [e.stream_id for e in events if isinstance(e, h2.events.RequestReceived)]


def test_the_first_settings_carry_the_bounds():
    p = Pair(max_concurrent_streams=7, max_header_list_size=12345)
    _, frames = p.flush()
    settings = next(f for f in frames if f.type == 0x4 and "ACK" not in f.flags).settings
    assert settings[SettingCodes.MAX_CONCURRENT_STREAMS] == 7
    assert settings[SettingCodes.MAX_HEADER_LIST_SIZE] == 12345


def test_a_stream_past_the_bound_alone_is_refused():
    p = Pair(max_concurrent_streams=2)
    before = limits.hits("grpc", "streams")
    for sid in (1, 3, 5):
        p.client.send_headers(sid, HEADERS)
    events, frames = p.flush()
    assert opened(events) == [1, 3]
    assert resets(frames) == [(5, ErrorCodes.REFUSED_STREAM)]
    assert limits.hits("grpc", "streams") == before + 1
    # its message, sent before the client saw the refusal, gets no second reset
    p.client.send_data(5, b"\0\0\0\0\0", end_stream=True)
    events, frames = p.flush()
    assert resets(frames) == [] and not events
    # once a stream ends, a new one is served
    p.client.send_data(1, b"", end_stream=True)
    p.flush()
    p.server.send_headers(1, [(":status", "200")], end_stream=True)
    p.client.send_headers(7, HEADERS)
    events, frames = p.flush()
    assert opened(events) == [7]


def test_a_header_list_past_the_bound_resets_its_stream_and_the_table_stays_in_step():
    p = Pair(max_header_list_size=4096)
    before = limits.hits("grpc", "header_bytes")
    # indexed into the client's HPACK table: the next stream refers to these entries
    big = HEADERS + [(f"x-{i}", "v" * 40) for i in range(60)]
    p.client.send_headers(1, big)
    events, frames = p.flush()
    assert opened(events) == [] and resets(frames) == [(1, ErrorCodes.FRAME_SIZE_ERROR)]
    assert limits.hits("grpc", "header_bytes") == before + 1
    p.client.send_headers(3, HEADERS + [("x-1", "v" * 40), ("x-2", "v" * 40)])
    events, frames = p.flush()
    got = next(e for e in events if isinstance(e, h2.events.RequestReceived))
    assert got.stream_id == 3 and (b"x-2", b"v" * 40) in got.headers
    assert resets(frames) == []


def test_a_header_list_within_the_bound_is_served():
    p = Pair(max_header_list_size=4096)
    p.client.send_headers(1, HEADERS + [("x-a", "v" * 3000)])
    events, frames = p.flush()
    assert opened(events) == [1] and resets(frames) == []


@pytest.mark.parametrize("size", [4096, 4097])
def test_the_bound_is_rfc_7541s_size(size):
    # every header counts name + value + 32 bytes
    base = sum(len(n) + len(v) + 32 for n, v in HEADERS)
    pad = size - base - len("x-pad") - 32
    p = Pair(max_header_list_size=4096)
    p.client.send_headers(1, HEADERS + [("x-pad", "v" * pad)])
    events, frames = p.flush()
    assert opened(events) == ([1] if size <= 4096 else [])
