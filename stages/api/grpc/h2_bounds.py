"""The HTTP/2 bounds of one gRPC client connection: streams in flight and header list bytes.

Theory of operation. grpclib speaks HTTP/2 through h2's H2Connection; `BoundedH2Connection`
is that connection with grpc-go's answers at two bounds, advertised in the first SETTINGS:

- SETTINGS_MAX_CONCURRENT_STREAMS = --max-concurrent-streams. A client that opens a stream
  past it (clients wait instead, once they have the SETTINGS) gets that one stream refused
  with RST_STREAM(REFUSED_STREAM), as from grpc-go; h2 itself would end the whole
  connection.
- SETTINGS_MAX_HEADER_LIST_SIZE = --max-request-header-bytes (RFC 7541 sizes: name, value and
  32 bytes per header). A longer header list gets that one stream reset with
  RST_STREAM(FRAME_SIZE_ERROR), as from grpc-go, which a client reports as Internal. The
  block is still decoded to its end, keeping no header past the bound, so that HPACK's
  dynamic table stays in step with the client's and the connection serves on; hpack's own
  decoder stops in the middle and the connection has to end.

A header block longer than h2 buffers (64 frames: 1 MiB with the default 16 KiB frames) ends
the connection, as a header string longer than its limit ends grpc-go's.
Each refusal is counted in limits.py (grpc/streams, grpc/header_bytes).

Must never: let the HPACK table drift from the client's, hand grpclib a stream it refused, or
answer a refused stream's later frames (grpc-go ignores them; so does the client).
"""
from __future__ import annotations

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.settings import SettingCodes, Settings
from h2.stream import StreamClosedBy
from hpack import Decoder
from hpack.exceptions import HPACKDecodingError
from hpack.hpack import table_entry_size
from hyperframe.frame import RstStreamFrame

from .. import limits


class _Settings(Settings):
    """Our settings, whose stream bound h2 can be told to overlook for one HEADERS frame
    (h2 checks it before decoding the block, and must decode it to keep HPACK in step)."""

    overlook_streams = False

    @property
    def max_concurrent_streams(self) -> int:
        if self.overlook_streams:
            return 2 ** 32 + 1
        return self.get(SettingCodes.MAX_CONCURRENT_STREAMS, 2 ** 32 + 1)


class HeaderListDecoder(Decoder):
    """hpack's Decoder that decodes a header list past `max_header_list_size` to its end,
    keeping only the headers within the bound, and tells by `oversized`. h2 asks for raw
    (bytes) headers only."""

    oversized = False

    def decode(self, data, raw: bool = True):
        self.oversized = False
        limit = self.max_header_list_size
        mem = memoryview(data)
        headers = []
        size = i = 0
        end = len(data)
        while i < end:
            first = data[i]
            if first & 0x80:
                header, used = self._decode_indexed(mem[i:])
            elif first & 0x40:
                header, used = self._decode_literal_index(mem[i:])
            elif first & 0x20:
                if size:
                    raise HPACKDecodingError("Table size update not at the start of the block")
                used = self._update_encoding_context(mem[i:])
                header = None
            else:
                header, used = self._decode_literal_no_index(mem[i:])
            if header:
                size += table_entry_size(header[0], header[1])
                if size <= limit:
                    headers.append(header)
                else:
                    self.oversized = True
            i += used
        self._assert_valid_table_size()
        return headers


class BoundedH2Connection(H2Connection):
    """h2's server connection with the bounds above."""

    def __init__(self, config: H2Configuration, *, max_concurrent_streams: int,
                 max_header_list_size: int) -> None:
        super().__init__(config=config)
        # Replaced before initiate_connection, so the first SETTINGS carry them.
        self.local_settings = _Settings(client=config.client_side, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
            SettingCodes.MAX_HEADER_LIST_SIZE: max_header_list_size})
        self.decoder = HeaderListDecoder()
        self.decoder.max_header_list_size = max_header_list_size

    def _receive_headers_frame(self, frame):
        sid = frame.stream_id
        too_many = (sid not in self.streams and
                    self.open_inbound_streams >= self.local_settings.max_concurrent_streams)
        self.local_settings.overlook_streams = too_many
        try:
            frames, events = super()._receive_headers_frame(frame)
        finally:
            self.local_settings.overlook_streams = False
        if self.decoder.oversized:  # grpc-go checks the header list first
            limits.hit("grpc", "header_bytes")
            code = ErrorCodes.FRAME_SIZE_ERROR
        elif too_many:
            limits.hit("grpc", "streams")
            code = ErrorCodes.REFUSED_STREAM
        else:
            return frames, events
        self.reset_stream(sid, code)
        return frames, [e for e in events if getattr(e, "stream_id", None) != sid]

    def _handle_data_on_closed_stream(self, events, exc, frame):
        # The client may send a refused call's message before it reads the refusal; h2
        # would answer it with one more RST_STREAM (STREAM_CLOSED), grpc-go stays silent.
        frames, events = super()._handle_data_on_closed_stream(events, exc, frame)
        if self._stream_closed_by(frame.stream_id) is StreamClosedBy.SEND_RST_STREAM:
            frames = [f for f in frames if not isinstance(f, RstStreamFrame)]
        return frames, events
