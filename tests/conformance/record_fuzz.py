"""Record etcd 3.4.23's answers to the hostile corpus: `python -m tests.conformance.record_fuzz`.

Theory of operation: one throwaway etcd (record.Etcd) answers every case of
fuzz_cases.cases(), the "seq" group one case after the other in corpus order, then the "par"
group (cases that may wait for the read timeout) side by side. Each case is sent over a raw
TCP socket as the exact bytes fuzz_cases.request_bytes gives (the write side is then shut down
if the case says `half_close`), and everything the server writes within READ_TIMEOUT_S is
parsed into HTTP responses: status line, headers but Date, and the body (chunked framing
undone) as record.parse_body reads it, normalized as record.py does. A case's answer is

    {"closed": true}                      the server closed without writing anything
    {"timeout": true}                     nothing written within the read timeout
    {"responses": [...], "end": "closed" | "timeout"}

(a response that ended early carries "incomplete"). The corpus, with every answer, goes to
recorded/fuzz.json, one compact line per case: its id, class, group, writes, the sha256 of
the bytes it sends (the replay regenerates the corpus and checks it against these), the
request itself when those bytes are at most REQUEST_INLINE_BYTES, and the answer, in which
strings longer than 256 characters (snapshot blobs, /metrics) become their length, as in
record_watch.py: no comparison reads them. tests/integration/test_fuzz_conformance.py replays
it against petcd and compares `summary()` of each answer: the outcome, and per
response the status, Content-Type and the body's error (code and message), Go's plain text,
or for a success only the JSON shape (values depend on what ran before; in a stream, runs of
lines of one shape count once, and remaining_bytes, omitted when 0, is left out).

Options: --out PATH, --etcd PATH.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conformance import fuzz_cases
from tests.conformance.record import Etcd, _normalize, etcd_version, parse_body
# Strings longer than 256 characters become "<N chars>" (snapshot blobs, /metrics): no
# comparison reads them.
from tests.conformance.record_watch import _short as clip

OUT = Path(__file__).resolve().parent / "recorded" / "fuzz.json"
READ_TIMEOUT_S = 2.0
PARALLEL = 16
REQUEST_INLINE_BYTES = 4096


def exchange(port: int, data: bytes, half_close: bool,
             timeout_s: float = READ_TIMEOUT_S) -> tuple[bytes, str]:
    """(what the server wrote, "closed" or "timeout"): send `data`, then read until the
    server closes or `timeout_s` has passed since the send."""
    buf = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what it answered is still to be read
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(buf), "timeout"
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return bytes(buf), "timeout"
            except ConnectionResetError:
                return bytes(buf), "closed"
            if not chunk:
                return bytes(buf), "closed"
            buf += chunk


def _dechunk(buf: bytes, pos: int) -> tuple[bytes, int, bool]:
    """(body, position after it, complete) of a chunked body starting at `pos`."""
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return bytes(body), len(buf), False
        try:
            size = int(buf[pos:eol].split(b";", 1)[0], 16)
        except ValueError:
            return bytes(body), len(buf), False
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)  # trailers, then the blank line
            return bytes(body), (end + 4 if end >= 0 else len(buf)), end >= 0
        body += buf[pos:pos + size]
        if len(buf) < pos + size + 2:
            return bytes(body), len(buf), False
        pos += size + 2


def parse_responses(buf: bytes, head: bool, normalize) -> list[dict]:
    """The HTTP responses in `buf`, in order; `head`: the first answers a HEAD (no body)."""
    out: list[dict] = []
    pos = 0
    while pos < len(buf):
        if not buf.startswith(b"HTTP/", pos):
            out.append({"raw": buf[pos:pos + 2000].decode("latin-1")})
            break
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            out.append({"incomplete": True, "raw": buf[pos:pos + 2000].decode("latin-1")})
            break
        lines = buf[pos:end].decode("latin-1").split("\r\n")
        resp: dict = {"status_line": lines[0]}
        try:
            resp["status"] = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            resp["status"] = 0
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.lower() != "date":
                headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
        resp["headers"] = normalize(headers)
        lower = {k.lower(): v for k, v in headers.items()}
        pos = end + 4
        status = resp["status"]
        complete = True
        if (head and not out) or status < 200 or status in (204, 304):
            body = b""
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            body, pos, complete = _dechunk(buf, pos)
        elif lower.get("content-length", "").isdigit():
            n = int(lower["content-length"])
            body = buf[pos:pos + n]
            complete = len(body) == n
            pos += n
        else:
            body, pos = buf[pos:], len(buf)
        if body:
            resp.update(parse_body(body, normalize))
        if not complete:
            resp["incomplete"] = True
        out.append(resp)
    return out


def answer(port: int, case: dict, normalize) -> dict:
    req = case["request"]
    buf, end = exchange(port, fuzz_cases.request_bytes(req), req.get("half_close", False))
    if not buf:
        return {"closed": True} if end == "closed" else {"timeout": True}
    head = req.get("method") == "HEAD"
    return {"responses": parse_responses(buf, head, normalize), "end": end}


def run_corpus(port: int, cases: list[dict], normalize) -> dict[str, dict]:
    """case id -> answer: the "seq" cases in order, then the "par" cases side by side."""
    answers = {c["id"]: answer(port, c, normalize) for c in cases if c["group"] == "seq"}
    par = [c for c in cases if c["group"] == "par"]
    with ThreadPoolExecutor(PARALLEL) as pool:
        for c, a in zip(par, pool.map(lambda c: answer(port, c, normalize), par)):
            answers[c["id"]] = a
    return answers


def digest(case: dict) -> str:
    return hashlib.sha256(fuzz_cases.request_bytes(case["request"])).hexdigest()


def recorded_case(case: dict, ans: dict) -> dict:
    out = {k: case[k] for k in ("id", "class", "group", "writes")}
    out["sha256"] = digest(case)
    if len(fuzz_cases.request_bytes(case["request"])) <= REQUEST_INLINE_BYTES:
        out["request"] = case["request"]
    out["answer"] = clip(ans)
    return out


# Fields whose presence depends on values (omitted when 0) in a stream of results: a
# snapshot's chunk count and remaining_bytes follow the size of the server's own database.
_VALUE_KEYS = {"remaining_bytes"}


def _json_summary(v):
    if isinstance(v, dict):
        if "code" in v and "message" in v:
            return {"code": v["code"], "message": v["message"], "error": v.get("error")}
        if isinstance(v.get("error"), dict):  # a stream's error body
            return {"error": v["error"]}
        out: dict = {"keys": sorted(set(v) - _VALUE_KEYS)}
        if isinstance(v.get("result"), dict):
            out["result"] = _json_summary(v["result"])
        return out
    return {"json": type(v).__name__}


def summary(ans: dict) -> dict:
    """What must be equal between two servers' answers to one case (module docstring)."""
    if "responses" not in ans:
        return {"outcome": "closed" if ans.get("closed") else "timeout"}
    out = []
    for r in ans["responses"]:
        if "status" not in r:  # not HTTP (an HTTP/2 server's frames): only that it came
            out.append({"raw": True, "incomplete": r.get("incomplete", False)})
            continue
        s: dict = {"status": r["status"],
                   "content-type": {k.lower(): v for k, v in r["headers"].items()}
                   .get("content-type")}
        if "json" in r:
            s["body"] = _json_summary(r["json"])
        elif "lines" in r:  # runs of lines of one shape count once (snapshot chunks)
            shapes = [_json_summary(line) for line in r["lines"]]
            s["body"] = {"lines": [x for i, x in enumerate(shapes)
                                   if i == 0 or x != shapes[i - 1]]}
        elif "text" in r:  # Go's plain-text refusals; a 200's text is /metrics or the like
            s["body"] = {"text": r["text"] if r["status"] != 200 else "..."}
        if r.get("incomplete"):
            s["incomplete"] = True
        out.append(s)
    return {"responses": out, "end": ans["end"]}


def dump(doc: dict) -> str:
    """Pretty at the top, one compact line per case (as record._dump does per step)."""
    def line(v) -> str:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    out = ["{"]
    out += [f" {line(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in doc.items()
            if k != "cases"]
    out.append(' "cases": [')
    cases = doc["cases"]
    out += ["  " + line(c) + ("," if i < len(cases) - 1 else "") for i, c in enumerate(cases)]
    out += [" ]", "}"]
    return "\n".join(out) + "\n"


def load(path: Path = OUT) -> dict:
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    args = ap.parse_args(argv)
    if not os.path.exists(args.etcd):
        print("no etcd binary: apt-get install -y etcd-server etcd-client", file=sys.stderr)
        return 2
    cases = fuzz_cases.cases()
    etcd = Etcd(args.etcd)
    t0 = time.monotonic()
    try:
        etcd.start()
        answers = run_corpus(etcd.client_port, cases, lambda v: _normalize(v, etcd))
        if etcd.proc.poll() is not None:
            print("etcd exited during the run", file=sys.stderr)
            return 1
    finally:
        etcd.stop()
    print(f"{len(cases)} cases in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    doc = {"etcd_version": etcd_version(args.etcd),
           "api": "grpc-gateway HTTP/JSON and Go net/http, hostile input (fuzz_cases.py)",
           "seed": fuzz_cases.SEED, "read_timeout_s": READ_TIMEOUT_S,
           "cases": [recorded_case(c, answers[c["id"]]) for c in cases]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(doc))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
