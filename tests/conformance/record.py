"""Record a real etcd's answers to the KV scenarios: `python -m tests.conformance.record`.

For each scenario in kv_scenarios.SCENARIOS (or auth_scenarios, `--set auth`) this starts a throwaway single-member etcd (the
`etcd` binary on PATH, 3.4.23 from Debian's etcd-server) on free loopback ports in a temporary
data dir, sends the scenario's requests in order over HTTP/1.1, stops it, and writes every
request with its answer to recorded/kv.json:

    {"etcd_version": ..., "placeholders": {...},
     "scenarios": [{"name", "doc", "steps": [{"request": {...}, "response": {...}}]}]}

A response is {"status", "headers" (all but Date and Content-Length), and "json" (the parsed
body) or "text" (a body that is not JSON) or "closed" (no answer: the server dropped the
connection)}. Values that change from run to run are replaced: cluster and member ids, the
raft term, ports in URLs, and the raft index and db size of maintenance/status (see
PLACEHOLDERS). Revisions are kept: every scenario starts from revision 1.

Options: --out PATH, --only NAME[,NAME...] (record some scenarios, keep the others' old
recordings), --etcd PATH.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from petcd.testing.member import free_port
from tests.conformance import auth_scenarios, kv_scenarios

HERE = Path(__file__).resolve().parent
# scenario set -> (scenarios, where their recording lives)
SETS = {"kv": (kv_scenarios.SCENARIOS, HERE / "recorded" / "kv.json"),
        "auth": (auth_scenarios.SCENARIOS, HERE / "recorded" / "auth.json")}
MEMBER_NAME = "conformance"

PLACEHOLDERS = {
    "<cluster_id>": "the cluster id (uint64, decimal string)",
    "<member_id>": "this member's id (uint64, decimal string); also Status.leader, Member.ID",
    "<raft_term>": "the raft term (ResponseHeader.raft_term, Status.raftTerm)",
    "<client_port>": "the client port in URLs",
    "<peer_port>": "the peer port in URLs",
    "<raft_index>": "Status.raftIndex and Status.raftAppliedIndex",
    "<db_size>": "Status.dbSize and Status.dbSizeInUse",
    "<added_id>": "the id of the member the scenario added last (member/add)",
    "<token>": "an auth token (AuthenticateResponse.token)",
}


def request_body(req: dict) -> bytes:
    """The exact bytes a recorded request sends (also for replaying against petcd)."""
    if "body_b64" in req:
        return base64.b64decode(req["body_b64"])
    if "body_gen" in req:
        g = req["body_gen"]
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        if g["kind"] == "put":
            body = {"key": b64(g["key"].encode()), "value": b64(b"x" * g["value_bytes"])}
        elif g["kind"] == "txn_put":
            body = {"success": [{"request_put": {"key": b64(g["key"].encode()),
                                                 "value": b64(b"x" * g["value_bytes"])}}]}
        elif g["kind"] == "range_key":
            body = {"key": b64(b"k" * g["key_bytes"])}
        elif g["kind"] == "repeat":
            # text made of (piece, count) pairs, e.g. [["[", 10001]]
            return "".join(piece * count for piece, count in g["parts"]).encode()
        elif g["kind"] == "nested_txn":
            # `levels` TxnRequests, each the only success op of its parent; the innermost
            # holds `leaf` (a RequestOp as JSON text) or nothing
            n = g["levels"] - 1
            leaf = '{"success":[%s]}' % g["leaf"] if g.get("leaf") else "{}"
            return ('{"success":[{"request_txn":' * n + leaf + "}]}" * n).encode()
        else:
            raise ValueError(f"unknown body_gen kind {g['kind']!r}")
        return json.dumps(body, separators=(",", ":")).encode()
    return req.get("body", "").encode("utf-8")


class Etcd:
    """A throwaway single-member etcd on loopback."""

    def __init__(self, binary: str, extra_args: tuple[str, ...] = ()):
        self.binary = binary
        self.extra_args = extra_args
        self.dir = Path(tempfile.mkdtemp(prefix="petcd-record-"))
        self.client_port = free_port()
        self.peer_port = free_port()
        while self.peer_port == self.client_port:
            self.peer_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.cluster_id = self.member_id = self.added_id = ""

    def start(self) -> None:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = open(self.dir / "etcd.log", "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--name", MEMBER_NAME, "--data-dir", str(self.dir / "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"{MEMBER_NAME}={peer}",
             "--initial-cluster-state", "new", "--log-outputs", "stderr", *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited: see {self.dir / 'etcd.log'}")
            try:
                r = send(self.client_port, "GET", "/health", b"")
                if r[0] == 200 and json.loads(r[2]).get("health") == "true":
                    break
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("etcd did not become healthy in 30 s")
        _, _, body = send(self.client_port, "POST", "/v3/cluster/member/list", b"{}")
        header = json.loads(body)["header"]
        self.cluster_id, self.member_id = header["cluster_id"], header["member_id"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def send(port: int, method: str, path: str, body: bytes,
         headers: dict | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body if body or method != "GET" else None,
                     headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def fill_placeholders(body: bytes, ids) -> bytes:
    """A request that names run-dependent values (the member's id, its peer port, the member
    the scenario added) with placeholders, filled for this run; `ids` as for _normalize."""
    for name, value in (("<member_id>", ids.member_id), ("<peer_port>", ids.peer_port),
                        ("<added_id>", getattr(ids, "added_id", ""))):
        body = body.replace(name.encode(), str(value).encode())
    return body


def capture_added(ids, req: dict, status: int, data: bytes) -> None:
    """Remember the id of a member the scenario added, for later steps (<added_id>), and the
    token a user was given (for steps sent `"as"` that user)."""
    if status == 200 and req["path"].endswith("/cluster/member/add"):
        ids.added_id = json.loads(data)["member"]["ID"]
    if status == 200 and req["path"].endswith("/auth/authenticate"):
        if not hasattr(ids, "tokens"):
            ids.tokens = {}
        ids.tokens[json.loads(request_body(req)).get("name", "")] = json.loads(data)["token"]


def request_headers(req: dict, ids) -> dict:
    """The headers a recorded request sends: its own, and the Authorization header of a step
    sent as a user (`"as"`: that user's token; `"bearer"`: the same as `Bearer <token>`) or
    with a literal token (`"token"`)."""
    headers = dict(req.get("headers") or {})
    tokens = getattr(ids, "tokens", {})
    if "as" in req:
        headers["Authorization"] = tokens.get(req["as"], "")
    elif "bearer" in req:
        headers["Authorization"] = "Bearer " + tokens.get(req["bearer"], "")
    elif "token" in req:
        headers["Authorization"] = req["token"]
    return headers


def _normalize(value, etcd: Etcd, key: str = ""):
    if isinstance(value, dict):
        return {k: _normalize(v, etcd, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v, etcd, key) for v in value]
    if key in ("raft_term", "raftTerm"):
        return "<raft_term>"
    if key in ("raftIndex", "raftAppliedIndex"):
        return "<raft_index>"
    if key in ("dbSize", "dbSizeInUse"):
        return "<db_size>"
    if key == "token" and isinstance(value, str) and value:
        return "<token>"
    if isinstance(value, str):
        if value == etcd.cluster_id:
            return "<cluster_id>"
        if value == etcd.member_id:
            return "<member_id>"
        if value and value == getattr(etcd, "added_id", ""):
            return "<added_id>"
        value = value.replace(f"127.0.0.1:{etcd.client_port}", "127.0.0.1:<client_port>")
        value = value.replace(f"127.0.0.1:{etcd.peer_port}", "127.0.0.1:<peer_port>")
    return value


_SKIP_HEADERS = {"date", "content-length"}


def _record_step(etcd: Etcd, req: dict) -> dict:
    body = fill_placeholders(request_body(req), etcd)
    try:
        status, headers, data = send(etcd.client_port, req["method"], req["path"], body,
                                     request_headers(req, etcd))
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return {"closed": True}
    capture_added(etcd, req, status, data)
    hdrs: dict[str, str] = {}
    for k, v in headers:
        if k.lower() in _SKIP_HEADERS:
            continue
        hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
    out: dict = {"status": status, "headers": _normalize(hdrs, etcd)}
    out.update(parse_body(data, lambda v: _normalize(v, etcd)))
    return out


def parse_body(data: bytes, normalize) -> dict:
    """{"lines": [...]} for a stream (newline-terminated JSON values), {"json": ...} for a
    unary JSON answer, else {"text": ...}; values pass through `normalize`."""
    if data.endswith(b"\n"):
        try:
            return {"lines": [normalize(json.loads(line)) for line in data.splitlines()]}
        except ValueError:
            pass
    try:
        return {"json": normalize(json.loads(data))}
    except ValueError:
        return {"text": normalize(data.decode("utf-8", "replace"))}


def record_scenario(binary: str, scenario: dict) -> dict:
    etcd = Etcd(binary)
    try:
        etcd.start()
        steps = [{"request": req, "response": _record_step(etcd, req)}
                 for req in scenario["steps"]]
    finally:
        etcd.stop()
    return {"name": scenario["name"], "doc": scenario["doc"], "start_revision": 1,
            "steps": steps}


def _dump(doc: dict) -> str:
    """Pretty at the top, one compact line per step: readable diffs at step granularity, and
    no runaway indentation for deeply nested answers."""
    def line(v) -> str:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    out = ["{"]
    for k, v in doc.items():
        if k != "scenarios":
            out.append(f" {line(k)}: {json.dumps(v, ensure_ascii=False)},")
    out.append(' "scenarios": [')
    for i, sc in enumerate(doc["scenarios"]):
        out.append("  {")
        for k, v in sc.items():
            if k != "steps":
                out.append(f"   {line(k)}: {line(v)},")
        out.append('   "steps": [')
        steps = sc["steps"]
        for j, st in enumerate(steps):
            out.append("    " + line(st) + ("," if j < len(steps) - 1 else ""))
        out.append("   ]")
        out.append("  }" + ("," if i < len(doc["scenarios"]) - 1 else ""))
    out.append(" ]")
    out.append("}")
    return "\n".join(out) + "\n"


def etcd_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("etcd Version:"):
            return line.split(":", 1)[1].strip()
    return out.strip()


def record_selected(scenarios: list[dict], out: Path, only_arg: str,
                    record_one) -> list[dict] | None:
    """Every scenario's recording, in order: `record_one(scenario)` for those named in
    `only_arg` (comma-separated; all when empty), the recording already in `out` for the
    others. None, after a message, if `only_arg` names an unknown scenario."""
    only = {n for n in only_arg.split(",") if n}
    unknown = only - {s["name"] for s in scenarios}
    if unknown:
        print(f"unknown scenarios: {sorted(unknown)}", file=sys.stderr)
        return None
    old: dict[str, dict] = {}
    if only and out.exists():
        old = {s["name"]: s for s in json.loads(out.read_text())["scenarios"]}
    recorded = []
    for sc in scenarios:
        if only and sc["name"] not in only:
            if sc["name"] in old:
                recorded.append(old[sc["name"]])
            continue
        t0 = time.monotonic()
        recorded.append(record_one(sc))
        print(f"{sc['name']}: {len(sc['steps'])} steps in {time.monotonic() - t0:.1f}s",
              file=sys.stderr)
    return recorded


def write_recordings(out: Path, doc: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_dump(doc))
    print(f"wrote {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(SETS), default="kv",
                    help="which scenarios: kv_scenarios.py or auth_scenarios.py")
    ap.add_argument("--out", type=Path, help="default: the set's file in recorded/")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd")
    args = ap.parse_args(argv)
    if not os.path.exists(args.etcd):
        print("no etcd binary: apt-get install -y etcd-server etcd-client", file=sys.stderr)
        return 2
    scenarios, default_out = SETS[args.set]
    args.out = args.out or default_out
    recorded = record_selected(scenarios, args.out, args.only,
                               lambda sc: record_scenario(args.etcd, sc))
    if recorded is None:
        return 2
    api = {"kv": "grpc-gateway HTTP/JSON, KV service",
           "auth": "grpc-gateway HTTP/JSON, Auth service and its enforcement"}[args.set]
    doc = {"etcd_version": etcd_version(args.etcd), "api": api,
           "placeholders": PLACEHOLDERS, "scenarios": recorded}
    write_recordings(args.out, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
