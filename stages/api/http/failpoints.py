"""`/debug/failpoints`: arm, list and disarm the member's failpoints over HTTP (tests only).

Theory of operation: served only with --debug-failpoints (otherwise the path is a plain 404,
like any unknown path). gofail's shape: `PUT /debug/failpoints/<name>` with the term as body
arms it, `GET /debug/failpoints/<name>` shows its term, `DELETE` disarms it, and `GET
/debug/failpoints` lists `name=term` lines for the whole member. Each request is forwarded to
the control socket of the stage that owns the failpoint (every api worker, for the api's own),
and answered once that stage has done it.
"""
from __future__ import annotations

import asyncio

import zmq

from petcd.common import failpoint
from petcd.ipc import failpoints as control

PREFIX = "/debug/failpoints"
STAGES = ("apply", "wal", "raft", "transport")


class FailpointEndpoint:
    def __init__(self, ctx: zmq.Context, data_dir: str, api_workers: int) -> None:
        self.ctx = ctx
        self.data_dir = data_dir
        self.apis = ["api"] + [f"api-{i}" for i in range(2, api_workers + 1)]

    async def _ask(self, stages: list[str], request: dict) -> list[dict]:
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(
            loop.run_in_executor(None, control.ask, self.ctx, self.data_dir, s, request)
            for s in stages))

    def _owners(self, name: str) -> list[str]:
        stage = failpoint.CATALOG[name][0]
        return self.apis if stage == "api" else [stage]

    async def handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        name = path[len(PREFIX):].strip("/")
        if not name:
            if method != "GET":
                return 405, b"Method Not Allowed\n"
            answers = await self._ask([*STAGES, self.apis[0]], {"op": "list"})
            armed = {}
            for a in answers:
                armed.update(a.get("ok", {}))
            return 200, "".join(f"{n}={t}\n" for n, t in sorted(armed.items())).encode()
        if name not in failpoint.CATALOG:
            return 404, f"unknown failpoint {name}\n".encode()
        owners = self._owners(name)
        if method == "GET":
            term = (await self._ask(owners[:1], {"op": "list"}))[0].get("ok", {}).get(name)
            return (200, f"{term}\n".encode()) if term is not None else (404, b"not armed\n")
        if method == "PUT":
            request = {"op": "arm", "name": name, "term": body.decode(errors="replace").strip()}
        elif method == "DELETE":
            request = {"op": "disarm", "name": name}
        else:
            return 405, b"Method Not Allowed\n"
        errors = [a["error"] for a in await self._ask(owners, request) if "error" in a]
        return (400, f"{errors[0]}\n".encode()) if errors else (204, b"")
