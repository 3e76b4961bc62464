"""Read access to the recorded etcd answers, for tests (see README.md)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

from petcd.stages.api.http.gateway_json import KV_ROUTES
from tests.conformance.record import request_body

RECORDED = Path(__file__).resolve().parent / "recorded"

# Stand-ins for the placeholders when a recorded body must be decoded as a message again.
PLACEHOLDER_VALUES = {"<cluster_id>": "14841639068965178418", "<member_id>": "10276657743932975437",
                      "<raft_term>": "2"}


@functools.cache
def load(name: str = "kv.json") -> dict:
    return json.loads((RECORDED / name).read_text())


def kv_steps() -> list[tuple[str, int, dict, dict, str, type, bytes]]:
    """Every recorded POST to a KV route (/v3/ or /v3beta/): (scenario, step index, request,
    response, RPC name, request type, body bytes)."""
    out = []
    for sc in load()["scenarios"]:
        for i, step in enumerate(sc["steps"]):
            req = step["request"]
            path = req["path"].split("?", 1)[0]
            if req["method"] != "POST":
                continue
            for prefix in ("/v3/", "/v3beta/"):
                if path.startswith(prefix) and path[len(prefix):] in KV_ROUTES:
                    rpc, cls = KV_ROUTES[path[len(prefix):]]
                    out.append((sc["name"], i, req, step["response"], rpc, cls,
                                request_body(req)))
                    break
    return out


def recorded_error(resp: dict) -> tuple[int, int, str] | None:
    """(HTTP status, gRPC code, message) of a recorded gRPC error answer, else None."""
    if resp.get("closed") or resp["status"] == 200:
        return None
    body = resp["json"]
    assert body["error"] == body["message"]
    return resp["status"], body["code"], body["message"]


def with_placeholders_filled(value):
    if isinstance(value, dict):
        return {k: with_placeholders_filled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_placeholders_filled(v) for v in value]
    return PLACEHOLDER_VALUES.get(value, value) if isinstance(value, str) else value


def step_id(step: tuple) -> str:
    return f"{step[0]}-{step[1]}"


class MemberIds:
    """What a recording's placeholders stand for on a petcd member (record._normalize reads
    these attributes): its ports, cluster id and member id."""

    def __init__(self, member) -> None:
        _, _, body = member.request("POST", "/v3/cluster/member/list", b"{}")
        header = json.loads(body)["header"]
        self.client_port = member.client_port
        self.peer_port = member.peer_port
        self.cluster_id = header["cluster_id"]
        self.member_id = header["member_id"]
        self.added_id = ""
