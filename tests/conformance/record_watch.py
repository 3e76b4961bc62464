"""Record a real etcd's answers to the watch scenarios: `python -m tests.conformance.record_watch`.

For each scenario in watch_scenarios.SCENARIOS: a throwaway single-member etcd (as record.py,
with a 1 s progress-notify interval), the scenario played by `play()`, and every step's result
written to recorded/watch.json. `play()` is also what the integration test runs against petcd.
Run-dependent values become the placeholders of record.py; base64 strings longer than 256
characters become "<N chars>" (the fragment scenario's megabyte values).

Options: --out PATH, --only NAME[,NAME...], --etcd PATH.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from tests.conformance.record import (
    Etcd, _normalize, etcd_version, record_selected, request_body, send, write_recordings,
)
from tests.conformance.watch_client import WatchConn
from tests.conformance.watch_scenarios import SCENARIOS

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "recorded" / "watch.json"
ETCD_ARGS = ("--experimental-watch-progress-notify-interval", "1s")
LONG = 256
# Headers that depend on the server's framing, not on the API.
_SKIP = {"date", "content-length", "transfer-encoding", "connection"}


def _short(value):
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    if isinstance(value, str) and len(value) > LONG:
        return f"<{len(value)} chars>"
    return value


def _headers(headers) -> dict:
    return {k.lower(): v for k, v in dict(headers).items() if k.lower() not in _SKIP}


def play(port: int, scenario: dict, ids) -> list[dict]:
    """Run a scenario against the server on `port`; `ids` has the fields _normalize needs."""
    norm = lambda v: _short(_normalize(v, ids))  # noqa: E731
    conn: WatchConn | None = None
    out = []
    try:
        for step in scenario["steps"]:
            op = step["op"]
            if op == "open":
                conn = WatchConn(port, step.get("path", "/v3/watch"), step.get("headers"))
                res = {}
            elif op == "send":
                conn.send(step["body"])
                res = {}
            elif op == "end_body":
                conn.end_body()
                res = {}
            elif op == "read":
                first = conn.status is None
                lines = [norm(conn.read_line()) for _ in range(step["lines"])]
                res = {"lines": lines}
                if first:
                    res = {"status": conn.status, "headers": _headers(conn.headers), **res}
            elif op == "response":
                status, headers, body = conn.read_response()
                res = {"status": status, "headers": _headers(headers),
                       "json": norm(json.loads(body))}
            elif op == "kv":
                req = step["request"]
                status, _, body = send(port, req["method"], req["path"], request_body(req))
                res = {"status": status, "json": norm(json.loads(body))}
            else:
                raise ValueError(f"unknown op {op!r}")
            out.append(res)
    finally:
        if conn is not None:
            conn.close()
    return out


def same(want: dict, got: dict) -> bool:
    """Step results equal; a read's lines as a multiset."""
    if "lines" in want and "lines" in got:
        key = lambda v: json.dumps(v, sort_keys=True)  # noqa: E731
        return ({k: v for k, v in want.items() if k != "lines"}
                == {k: v for k, v in got.items() if k != "lines"}
                and sorted(map(key, want["lines"])) == sorted(map(key, got["lines"])))
    return want == got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", default="")
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    args = ap.parse_args(argv)
    if not os.path.exists(args.etcd):
        print("no etcd binary: apt-get install -y etcd-server etcd-client", file=sys.stderr)
        return 2
    def record_one(sc: dict) -> dict:
        etcd = Etcd(args.etcd, ETCD_ARGS)
        try:
            etcd.start()
            results = play(etcd.client_port, sc, etcd)
        finally:
            etcd.stop()
        return {"name": sc["name"], "doc": sc["doc"],
                "steps": [{"step": st, "result": r} for st, r in zip(sc["steps"], results)]}

    recorded = record_selected(SCENARIOS, args.out, args.only, record_one)
    if recorded is None:
        return 2
    write_recordings(args.out, {
        "etcd_version": etcd_version(args.etcd), "api": "grpc-gateway HTTP/JSON, Watch",
        "etcd_args": list(ETCD_ARGS), "scenarios": recorded})
    return 0


if __name__ == "__main__":
    sys.exit(main())
