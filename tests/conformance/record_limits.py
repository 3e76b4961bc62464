"""Record a real etcd's answers at the bounds on one client (`python -m
tests.conformance.record_limits`).

Three sets, each played on a throwaway single-member etcd (record.Etcd) and written to
recorded/limits.json; the `play_*` functions are also what the integration tests run against
petcd (tests/integration/test_http_limits.py, test_grpc_limits.py):

- "http_heads": raw HTTP/1.1 on the client port, heads around Go's bound (MaxHeaderBytes, 1 MiB
  as etcd leaves it, plus 4096 bytes): one long header, many small ones, long request lines
  and URLs, a keep-alive connection whose second head is too long. Each request of a case goes
  out on one connection after the answer to the one before; an answer is recorded as its
  status line, headers (lower-cased, without Date and Content-Length) and body, or as the exact
  bytes when it is a refusal (`raw`), with whether and how soon the connection then closed.
- "grpc_txn_depth": a TxnRequest nested 2 to 100000 levels (each level's one success op holds
  the next), some with a bad leaf, sent as raw bytes through grpcio; the answer is the status
  code and details, or for an accepted txn how deep its answer nests.
- "h2": raw HTTP/2 frames: streams past --max-concurrent-streams (etcd started with 2) and a
  header list past the limit (grpc-go's 16 MiB in etcd; sized relative to the server's limit,
  so that a petcd with a small --max-request-header-bytes replays it); the answer per stream
  is its RST_STREAM code or grpc-status.

Options: --out PATH, --only SET[,SET...] (keep the other sets' old recordings), --etcd PATH.
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from petcd.stages.api.grpc.txn_wire import encode_varint
from tests.conformance.record import Etcd, etcd_version

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "recorded" / "limits.json"

GO_MAX_HEADER_BYTES = (1 << 20) + 4096  # http.DefaultMaxHeaderBytes + bufio slack
GRPC_GO_MAX_HEADER_LIST_BYTES = 16 << 20  # grpc-go's defaultServerMaxHeaderListSize
L = GO_MAX_HEADER_BYTES

# -- HTTP/1.1 heads ------------------------------------------------------------------------

# request: {"gen": kind, "head_bytes": N (the head's length with its final CRLF), ...}
#   "header":  GET `path` with Host and one X-Big header padded to the length
#   "headers": GET `path` with Host and `count` headers "X-A: b"
#   "target":  GET whose target is `path` + "?a=" padded to the length
#   "post":    POST `path` with Content-Length, X-Big padded, then `body`
HTTP_HEADS = [
    {"name": "one_8mib_header", "doc": "a single header of 8 MiB",
     "requests": [{"gen": "header", "path": "/version", "head_bytes": 8 << 20}]},
    {"name": "head_at_bound", "doc": "a head of exactly MaxHeaderBytes + 4096 bytes",
     "requests": [{"gen": "header", "path": "/version", "head_bytes": L}]},
    {"name": "head_past_bound", "doc": "one byte longer",
     "requests": [{"gen": "header", "path": "/version", "head_bytes": L + 1}]},
    {"name": "head_below_bound", "doc": "one byte shorter",
     "requests": [{"gen": "header", "path": "/version", "head_bytes": L - 1}]},
    {"name": "many_small_headers", "doc": "100000 headers of 8 bytes (800 kB)",
     "requests": [{"gen": "headers", "path": "/version", "count": 100_000}]},
    {"name": "too_many_small_headers", "doc": "250000 headers of 8 bytes (2 MB)",
     "requests": [{"gen": "headers", "path": "/version", "count": 250_000}]},
    {"name": "request_line_4096", "doc": "a first request line of 4096 bytes with its CRLF",
     "requests": [{"gen": "target", "path": "/v", "line_bytes": 4096}]},
    {"name": "request_line_4097", "doc": "a first request line of 4097 bytes (cmux's bound)",
     "requests": [{"gen": "target", "path": "/v", "line_bytes": 4097}]},
    {"name": "url_2mib", "doc": "a first request line of 2 MiB",
     "requests": [{"gen": "target", "path": "/version", "line_bytes": 2 << 20}]},
    {"name": "keepalive_url_at_bound", "doc": "a second request whose URL fills the bound",
     "requests": [{"gen": "header", "path": "/version", "head_bytes": 100},
                  {"gen": "target", "path": "/version", "head_bytes": L}]},
    # Two bytes: Go's background read (which watches for the client going away while a
    # handler runs) may take the next request's first byte outside the bound, a race.
    {"name": "keepalive_url_past_bound", "doc": "a second request two bytes past the bound",
     "requests": [{"gen": "header", "path": "/version", "head_bytes": 100},
                  {"gen": "target", "path": "/version", "head_bytes": L + 2}]},
    {"name": "post_head_at_bound", "doc": "the body after a head at the bound is not counted",
     "requests": [{"gen": "post", "path": "/v3/kv/range", "head_bytes": L, "body": '{"key":1}'}]},
    {"name": "post_head_past_bound", "doc": "a head one byte past the bound, then a body",
     "requests": [{"gen": "post", "path": "/v3/kv/range", "head_bytes": L + 1,
                   "body": '{"key":1}'}]},
]


def head_request(req: dict) -> bytes:
    """The exact bytes of a recorded request (see HTTP_HEADS)."""
    gen, path = req["gen"], req["path"]
    if gen == "headers":
        return (f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + b"X-A: b\r\n" * req["count"]
                + b"\r\n")
    if gen == "target":
        tail = b" HTTP/1.1\r\nHost: x\r\n\r\n"
        fill = (req["head_bytes"] - len(tail) if "head_bytes" in req
                else req["line_bytes"] - len(b" HTTP/1.1\r\n"))
        start = f"GET {path}?a=".encode()
        return start + b"b" * (fill - len(start)) + tail
    body = req.get("body", "").encode()
    if gen == "post":
        start = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nX-Big: "
    else:
        start = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: "
    start_b = start.encode()
    return start_b + b"a" * (req["head_bytes"] - len(start_b) - 4) + b"\r\n\r\n" + body


def _read_answer(sock: socket.socket, buf: bytes, timeout_s: float) -> tuple[dict, bytes]:
    """One answer: status line, headers, body by Content-Length (else up to the end)."""
    deadline = time.monotonic() + timeout_s
    ended = None

    def more() -> bytes | None:
        nonlocal ended
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            data = b""
        if not data:
            ended = time.monotonic()
        return data

    while b"\r\n\r\n" not in buf:
        data = more()
        if not data:  # None: nothing more in time; b"": the connection ended
            if not buf:
                return {"answer": None, "closed": data == b""}, b""
            return {"raw": buf.decode("latin-1"), "closed": data == b""}, b""
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            data = more()
            if not data:
                break
            rest += data
        body, rest = rest[:n], rest[n:]
        answer = {"status": lines[0], "body": body.decode("utf-8", "replace"),
                  "headers": {k: v for k, v in sorted(headers.items())
                              if k not in ("date", "content-length")}}
        return answer, rest
    start = time.monotonic()
    while True:  # no length: the answer ends with the connection (Go's refusals)
        data = more()
        if not data:
            break
        rest += data
    raw = (head + b"\r\n\r\n" + rest).decode("latin-1")
    return {"raw": raw, "closed": ended is not None,
            "closed_after_s": round(ended - start, 1) if ended else None}, b""


def play_http(port: int, case: dict, timeout_s: float = 10.0) -> list[dict]:
    """Each request of `case` on one connection, after the answer to the one before (a
    sender thread: the server may stop reading); the answers."""
    sock = socket.create_connection(("127.0.0.1", port))
    answers = []
    buf = b""
    try:
        for req in case["requests"]:
            data = head_request(req)
            sender = threading.Thread(target=_send_all, args=(sock, data), daemon=True)
            sender.start()
            answer, buf = _read_answer(sock, buf, timeout_s)
            answers.append(answer)
            if answer.get("closed") or "raw" in answer:
                break
    finally:
        sock.close()
    return answers


def _send_all(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # the server stopped reading and closed: its answer is what counts


# -- gRPC: txn depth -----------------------------------------------------------------------

def nested_txn(levels: int, leaf: bytes = b"") -> bytes:
    """A TxnRequest nested `levels` deep: each level's only success op (field 2) holds the
    next in request_txn (field 4); the innermost TxnRequest is `leaf` (its raw fields).
    Built in linear time: every length prefix comes before the innermost bytes."""
    lengths = []
    inner = len(leaf)
    for _ in range(levels - 1):
        op = 1 + len(encode_varint(inner)) + inner       # RequestOp{request_txn}
        lengths.append((inner, op))
        inner = 1 + len(encode_varint(op)) + op           # TxnRequest{success: [op]}
    parts = []
    for txn_len, op_len in reversed(lengths):
        parts.append(b"\x12" + encode_varint(op_len) + b"\x22" + encode_varint(txn_len))
    return b"".join(parts) + leaf


# a PutRequest without a key as the innermost txn's only success op
LEAF_PUT_WITHOUT_KEY = b"\x12\x02\x12\x00"
# a Compare field whose length is missing: the message ends in the middle of a field
LEAF_CUT_SHORT = b"\x0a"
GRPC_TXN_DEPTH = [
    {"name": f"levels_{n}", "levels": n} for n in (2, 50, 60, 100, 128, 129, 130, 1000, 100000)
] + [
    {"name": "levels_60_put_without_key", "levels": 60, "leaf": LEAF_PUT_WITHOUT_KEY.hex()},
    {"name": "levels_129_put_without_key", "levels": 129, "leaf": LEAF_PUT_WITHOUT_KEY.hex()},
    {"name": "levels_1000_cut_short", "levels": 1000, "leaf": LEAF_CUT_SHORT.hex()},
    {"name": "levels_100000_cut_short", "levels": 100000, "leaf": LEAF_CUT_SHORT.hex()},
]


def _wire_fields(data: bytes):
    """(field number, value) of each field of a well-formed message; value is the bytes of
    a length-delimited field, else None."""
    def varint(i):
        n = shift = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n, i
    i = 0
    while i < len(data):
        tag, i = varint(i)
        kind = tag & 7
        if kind == 2:
            n, i = varint(i)
            yield tag >> 3, data[i:i + n]
            i += n
        else:
            i = varint(i)[1] if kind == 0 else i + (8 if kind == 1 else 4)
            yield tag >> 3, None


def _answer_levels(data: bytes) -> int:
    """How deep a TxnResponse nests (responses = 3, ResponseOp.response_txn = 4), read off
    the wire: a protobuf runtime would refuse the depth."""
    levels = 1
    while True:
        op = next((v for f, v in _wire_fields(data) if f == 3), None)
        inner = None if op is None else next((v for f, v in _wire_fields(op) if f == 4), None)
        if inner is None:
            return levels
        levels += 1
        data = inner


def play_txn(port: int, case: dict) -> dict:
    import grpc  # the test extra's grpcio: raw bytes in and out
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        txn = ch.unary_unary("/etcdserverpb.KV/Txn")
        try:
            data = txn(nested_txn(case["levels"], bytes.fromhex(case.get("leaf", ""))),
                       timeout=30)
        except grpc.RpcError as e:
            return {"code": e.code().name, "details": e.details()}
    return {"code": "OK", "answer_levels": _answer_levels(data)}


# -- HTTP/2 frames -------------------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADERS, _DATA, _RST_STREAM, _SETTINGS, _GOAWAY, _CONTINUATION = 1, 0, 3, 4, 7, 9
_BASE_HEADERS = [(b":method", b"POST"), (b":scheme", b"http"),
                 (b":path", b"/etcdserverpb.Maintenance/Status"), (b":authority", b"x"),
                 (b"content-type", b"application/grpc"), (b"te", b"trailers")]
_EMPTY_MESSAGE = b"\x00\x00\x00\x00\x00"  # one gRPC message of 0 bytes (StatusRequest{})


def _frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload))[1:] + bytes([kind, flags])
            + struct.pack(">I", stream_id) + payload)


def _hpack_int(n: int, prefix_bits: int) -> bytes:
    top = (1 << prefix_bits) - 1
    if n < top:
        return bytes([n])
    out = bytearray([top])
    n -= top
    while n >= 128:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, no Huffman: the table is never touched."""
    return b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value


def header_block(list_bytes: int = 0) -> bytes:
    """A call's header block, padded with small headers "x-<i>: b" until its header list
    (RFC 7541: name + value + 32 per header) is at least `list_bytes`."""
    fields = list(_BASE_HEADERS)
    size = sum(len(n) + len(v) + 32 for n, v in fields)
    i = 0
    while size < list_bytes:
        name = b"x-%d" % i
        fields.append((name, b"b"))
        size += len(name) + 1 + 32
        i += 1
    return b"".join(_literal(n, v) for n, v in fields)


def _headers_frames(stream_id: int, block: bytes, frame_bytes: int = 16384) -> bytes:
    chunks = [block[i:i + frame_bytes] for i in range(0, len(block), frame_bytes)]
    return b"".join(_frame(_HEADERS if k == 0 else _CONTINUATION,
                           0x4 if k == len(chunks) - 1 else 0, stream_id, chunk)
                    for k, chunk in enumerate(chunks))


class H2Conn:
    """A raw HTTP/2 client connection that reports, per stream, its RST_STREAM code or its
    grpc-status (read from the trailers), and the server's first SETTINGS."""

    def __init__(self, port: int) -> None:
        import hpack
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(PREFACE + _frame(_SETTINGS, 0, 0, b""))
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self.settings: dict[int, int] | None = None
        self.streams: dict[int, str] = {}
        self.goaway: int | None = None
        self.closed = False
        self._buf = b""

    def send(self, data: bytes) -> None:
        _send_all(self.sock, data)

    def call(self, stream_id: int, list_bytes: int = 0, data: bool = True) -> None:
        self.send(_headers_frames(stream_id, header_block(list_bytes))
                  + (_frame(_DATA, 0x1, stream_id, _EMPTY_MESSAGE) if data else b""))

    def wait(self, stream_ids, timeout_s: float = 10.0) -> None:
        """Read frames until every stream in `stream_ids` has ended, or the connection."""
        from hyperframe.frame import Frame
        deadline = time.monotonic() + timeout_s
        while not self.closed and not all(s in self.streams for s in stream_ids):
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                return
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return
            self._buf += data
            while len(self._buf) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self._buf[:9]))
                if len(self._buf) < 9 + length:
                    break
                frame.parse_body(memoryview(self._buf[9:9 + length]))
                self._buf = self._buf[9 + length:]
                self._on_frame(frame)

    def _on_frame(self, frame) -> None:
        if frame.type == _SETTINGS and "ACK" not in frame.flags:
            if self.settings is None:
                self.settings = dict(frame.settings)
            self.send(_frame(_SETTINGS, 0x1, 0, b""))
        elif frame.type == _RST_STREAM:
            self.streams[frame.stream_id] = f"RST_STREAM {frame.error_code}"
        elif frame.type == _HEADERS:
            headers = dict(self.decoder.decode(frame.data, raw=True))
            if b"grpc-status" in headers:
                self.streams[frame.stream_id] = "grpc-status " + headers[b"grpc-status"].decode()
        elif frame.type == _GOAWAY:
            self.goaway = frame.error_code

    def close(self) -> None:
        self.sock.close()


H2 = [
    {"name": "streams_past_max", "doc": "3 calls opened at once past --max-concurrent-streams 2",
     "etcd_args": ["--max-concurrent-streams", "2"], "open": 3},
    {"name": "header_list_past_max", "doc": "a header list 5% past the limit, then a call",
     "list_of_limit": 1.05},
    {"name": "header_list_below_max", "doc": "a header list 10% below the limit, then a call",
     "list_of_limit": 0.9},
]


def play_h2(port: int, case: dict, header_list_limit: int) -> dict:
    conn = H2Conn(port)
    try:
        if "open" in case:
            # all HEADERS before the server's SETTINGS can hold them back, then the messages
            ids = [1 + 2 * k for k in range(case["open"])]
            conn.send(b"".join(_headers_frames(s, header_block()) for s in ids))
            conn.wait([ids[-1]], timeout_s=2)
            conn.send(b"".join(_frame(_DATA, 0x1, s, _EMPTY_MESSAGE) for s in ids))
        else:
            ids = [1, 3]
            conn.call(1, list_bytes=int(header_list_limit * case["list_of_limit"]))
            conn.wait([1], timeout_s=30)
            conn.call(3)
        conn.wait(ids, timeout_s=30)
        return {"max_concurrent_streams": (conn.settings or {}).get(3),
                "streams": {str(s): conn.streams.get(s) for s in ids},
                "connection_closed": conn.closed}
    finally:
        conn.close()


# -- recording -----------------------------------------------------------------------------

def _record(binary: str, cases: list[dict], play) -> list[dict]:
    out = []
    for case in cases:
        etcd = Etcd(binary, tuple(case.get("etcd_args", ())))
        try:
            etcd.start()
            t0 = time.monotonic()
            out.append({**case, "etcd": play(etcd.client_port, case)})
            print(f"{case['name']}: {time.monotonic() - t0:.1f}s", file=sys.stderr)
        finally:
            etcd.stop()
    return out


def _write(out: Path, doc: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_dump(doc))
    print(f"wrote {out}", file=sys.stderr)


def _dump(doc: dict) -> str:
    """One compact line per case: readable diffs."""
    out = ["{"]
    keys = list(doc)
    for k in keys:
        v = doc[k]
        sep = "," if k != keys[-1] else ""
        if isinstance(v, list):
            lines = [json.dumps(c, separators=(",", ":")) for c in v]
            out.append(f' "{k}": [\n  ' + ",\n  ".join(lines) + f"\n ]{sep}")
        else:
            out.append(f' "{k}": {json.dumps(v)}{sep}')
    return "\n".join(out) + "\n}\n"


SETS = {
    "http_heads": (HTTP_HEADS, play_http),
    "grpc_txn_depth": (GRPC_TXN_DEPTH, play_txn),
    "h2": (H2, lambda port, case: play_h2(port, case, GRPC_GO_MAX_HEADER_LIST_BYTES)),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", default="", help="comma-separated sets: " + ",".join(SETS))
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    args = ap.parse_args(argv)
    only = [s for s in args.only.split(",") if s] or list(SETS)
    doc = json.loads(args.out.read_text()) if args.out.exists() else {}
    doc["etcd_version"] = etcd_version(args.etcd)
    for name in only:
        cases, play = SETS[name]
        doc[name] = _record(args.etcd, cases, play)
    _write(args.out, {"etcd_version": doc["etcd_version"],
                      **{k: doc[k] for k in SETS if k in doc}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
