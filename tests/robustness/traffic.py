"""Client traffic for a robustness run: etcd's gateway JSON over HTTP, recorded as sent.

Theory of operation: each client is a thread with one request in flight, pinned to a member
(or, for the cluster-wide clients, moving to the next member after a failure), like etcd's
robustness clients. Every put writes a unique value (`<client>.<seq>`), so each event and
each read is attributable to one write. Every request is recorded raw: the route, the body,
the monotonic call and return times, and the parsed answer, or the error when there is none
(a timeout or a broken connection: the outcome is unknown). history_of.py turns the raw
records into the checker's history; keeping them raw makes a saved report replayable.

The same traffic runs against petcd and etcd (prove the instrument first, issue 7).

Secure mode (secure.py): the clients speak https and send the traffic user's token, the
compactor root's (compaction is root's); a request refused for its token is sent again after
a new login within the same op, as clientv3 retries within one call.
"""
from __future__ import annotations

import base64
import http.client
import json
import random
import ssl
import threading
import time
from dataclasses import dataclass, field

from .secure import RELOGINS, Login, Security, refused

KEYS = tuple(f"key{i}" for i in range(10))
PREFIX, PREFIX_END = "key", "kez"
LEASE_TTL_S = 7200
REQUEST_TIMEOUT_S = 2.0
FAILURE_BACKOFF_S = 0.05


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@dataclass
class RawOp:
    client_id: int
    member: str
    route: str
    body: dict
    call_ns: int
    return_ns: int | None = None   # None: no answer (timeout, connection lost)
    status: int | None = None
    answer: dict | None = None
    error: str | None = None
    sent: bool = True              # False: the connection failed before the request left


# Workloads (reference/reliability-testing.md 6.2): name -> [(operation, weight)].
WORKLOADS: dict[str, list[tuple[str, int]]] = {
    "etcd": [("get", 15), ("list", 8), ("stale_get", 10), ("stale_list", 5), ("txn", 10),
             ("put", 40)],
    "leases": [("get", 15), ("list", 5), ("put", 20), ("delete", 5), ("put_with_lease", 5),
               ("lease_revoke", 5), ("cas", 5), ("txn", 5)],
    "kubernetes": [("get", 5), ("stale_get", 2), ("get_rev", 8), ("list", 5), ("update", 45),
                   ("create", 5), ("delete_cas", 5)],
}


@dataclass
class Client:
    client_id: int
    urls: list[str]                 # members this client may use, the pinned one first
    names: list[str]
    rng: random.Random
    workload: str
    ops: list[RawOp] = field(default_factory=list)
    seq: int = 0
    last_revision: int = 0
    # key -> mod_revision last seen, for compare-and-set writes.
    seen_mod: dict[str, int] = field(default_factory=dict)
    leases: list[int] = field(default_factory=list)
    tls: ssl.SSLContext | None = None   # secure mode: https, with the run's client certificate
    login: Login | None = None          # secure mode: whose token each request carries
    _member: int = 0
    _conn: http.client.HTTPConnection | None = None

    # -- transport -------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self.urls[self._member].rsplit("//", 1)[1].rsplit(":", 1)
            if self.tls is None:
                self._conn = http.client.HTTPConnection(host, int(port),
                                                        timeout=REQUEST_TIMEOUT_S)
            else:
                self._conn = http.client.HTTPSConnection(host, int(port),
                                                         timeout=REQUEST_TIMEOUT_S,
                                                         context=self.tls)
        return self._conn

    def _fail_over(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if len(self.urls) > 1:
            self._member = (self._member + 1) % len(self.urls)

    def call(self, route: str, body: dict) -> RawOp:
        op = RawOp(self.client_id, self.names[self._member], route, body, time.monotonic_ns())
        self.ops.append(op)
        conn = self._connection()
        token = None
        try:
            if conn.sock is None:
                conn.connect()
            if self.login is not None:   # a login that fails sends nothing either
                token = self.login.token(self.urls[self._member], REQUEST_TIMEOUT_S)
        except (OSError, http.client.HTTPException, ValueError) as e:
            # Refused or unreachable: the request never left, so it did not happen (and
            # is left out of the history, as a failed read is).
            op.sent = False
            op.error = f"not sent: {type(e).__name__}: {e}"
            self._fail_over()
            time.sleep(FAILURE_BACKOFF_S)
            return op
        try:
            status, answer = self._exchange(conn, route, body, token)
            for _ in range(RELOGINS if self.login is not None else 0):
                if not refused(status, answer):
                    break
                # Refused before anything was applied: log in again and send it once more.
                try:
                    token = self.login.renew(token, self.urls[self._member], REQUEST_TIMEOUT_S)
                except (OSError, http.client.HTTPException, ValueError):
                    break    # the refusal is the answer (an unknown outcome to the checker)
                status, answer = self._exchange(conn, route, body, token)
            op.return_ns = time.monotonic_ns()
            op.status, op.answer = status, answer
        except (OSError, http.client.HTTPException, ValueError) as e:
            op.return_ns = None
            op.error = f"{type(e).__name__}: {e}"
            self._fail_over()
            time.sleep(FAILURE_BACKOFF_S)  # a refused connection must not spin
            return op
        if op.status != 200:
            op.error = (op.answer or {}).get("error") or (op.answer or {}).get("message")
            if op.status >= 500:
                self._fail_over()
        else:
            rev = int(op.answer.get("header", {}).get("revision", 0))
            self.last_revision = max(self.last_revision, rev)
        return op

    @staticmethod
    def _exchange(conn: http.client.HTTPConnection, route: str, body: dict,
                  token: str | None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = token
        conn.request("POST", route, json.dumps(body).encode(), headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else {}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # -- operations --------------------------------------------------------------------------
    def value(self) -> str:
        self.seq += 1
        return f"{self.client_id}.{self.seq}"

    def key(self) -> str:
        return self.rng.choice(KEYS)

    def step(self) -> None:
        names, weights = zip(*WORKLOADS[self.workload])
        getattr(self, "op_" + self.rng.choices(names, weights)[0])()

    def _remember(self, op: RawOp) -> None:
        if op.status == 200:
            for kv in op.answer.get("kvs", []):
                self.seen_mod[base64.b64decode(kv["key"]).decode()] = int(kv["mod_revision"])

    def op_get(self, serializable: bool = False, revision: int = 0) -> None:
        body = {"key": b64(self.key())}
        if serializable:
            body["serializable"] = True
        if revision:
            body["revision"] = revision
        self._remember(self.call("/v3/kv/range", body))

    def op_stale_get(self) -> None:
        self.op_get(serializable=True)

    def op_get_rev(self) -> None:
        self.op_get(revision=max(1, self.last_revision - self.rng.randint(0, 20)))

    def op_list(self, serializable: bool = False) -> None:
        body = {"key": b64(PREFIX), "range_end": b64(PREFIX_END)}
        if serializable:
            body["serializable"] = True
        if self.rng.random() < 0.3:
            body["keys_only"] = True
        self._remember(self.call("/v3/kv/range", body))

    def op_stale_list(self) -> None:
        self.op_list(serializable=True)

    def op_put(self) -> None:
        self.call("/v3/kv/put", {"key": b64(self.key()), "value": b64(self.value())})

    def op_delete(self) -> None:
        self.call("/v3/kv/deleterange", {"key": b64(self.key())})

    def op_txn(self) -> None:
        # etcd's MultiOpTxn: a compare on one key's mod revision, puts and gets on both sides.
        k1, k2 = self.rng.sample(KEYS, 2)
        compare = {"key": b64(k1), "target": "MOD", "result": "EQUAL",
                   "mod_revision": str(self.seen_mod.get(k1, 0))}

        def put(k):
            return {"request_put": {"key": b64(k), "value": b64(self.value())}}

        def get(k):
            return {"request_range": {"key": b64(k)}}
        self._remember(self.call("/v3/kv/txn", {
            "compare": [compare], "success": [put(k1), get(k2)], "failure": [get(k1), put(k2)]}))

    def op_cas(self) -> None:
        k = self.key()
        self.call("/v3/kv/txn", {
            "compare": [{"key": b64(k), "target": "MOD", "result": "EQUAL",
                         "mod_revision": str(self.seen_mod.get(k, 0))}],
            "success": [{"request_put": {"key": b64(k), "value": b64(self.value())}}]})

    def op_update(self) -> None:
        # Kubernetes' optimistic update: write only if nobody changed the key since it was read.
        k = self.key()
        if k not in self.seen_mod:
            return self.op_get()
        op = self.call("/v3/kv/txn", {
            "compare": [{"key": b64(k), "target": "MOD", "result": "EQUAL",
                         "mod_revision": str(self.seen_mod[k])}],
            "success": [{"request_put": {"key": b64(k), "value": b64(self.value())}}],
            "failure": [{"request_range": {"key": b64(k)}}]})
        if op.status == 200:
            if op.answer.get("succeeded"):
                self.seen_mod[k] = int(op.answer["header"]["revision"])
            else:
                self._remember_txn_reads(op)

    def _remember_txn_reads(self, op: RawOp) -> None:
        for r in op.answer.get("responses", []):
            for kv in r.get("response_range", {}).get("kvs", []):
                self.seen_mod[base64.b64decode(kv["key"]).decode()] = int(kv["mod_revision"])

    def op_create(self) -> None:
        k = self.key()
        self.call("/v3/kv/txn", {
            "compare": [{"key": b64(k), "target": "CREATE", "result": "EQUAL",
                         "create_revision": "0"}],
            "success": [{"request_put": {"key": b64(k), "value": b64(self.value())}}]})

    def op_delete_cas(self) -> None:
        k = self.key()
        self.call("/v3/kv/txn", {
            "compare": [{"key": b64(k), "target": "MOD", "result": "EQUAL",
                         "mod_revision": str(self.seen_mod.get(k, 0))}],
            "success": [{"request_delete_range": {"key": b64(k)}}]})

    def op_put_with_lease(self) -> None:
        if not self.leases:
            lease_id = self.client_id * 1_000_000 + self.seq + 1
            self.seq += 1
            op = self.call("/v3/lease/grant", {"ID": str(lease_id), "TTL": str(LEASE_TTL_S)})
            if op.status == 200:
                self.leases.append(lease_id)
            return
        self.call("/v3/kv/put", {"key": b64(self.key()), "value": b64(self.value()),
                                 "lease": str(self.rng.choice(self.leases))})

    def op_lease_revoke(self) -> None:
        if not self.leases:
            return self.op_put_with_lease()
        lease_id = self.leases.pop(self.rng.randrange(len(self.leases)))
        self.call("/v3/lease/revoke", {"ID": str(lease_id)})


class Compactor:
    """Compacts a little behind the newest revision every `interval_s` (workload W4)."""

    def __init__(self, client: Client, interval_s: float = 0.2, behind: int = 20) -> None:
        self.client, self.interval_s, self.behind = client, interval_s, behind

    def step(self) -> None:
        c = self.client
        if not c.last_revision:
            c.call("/v3/kv/range", {"key": b64(KEYS[0])})
            return
        target = c.last_revision - self.behind
        if target > 0:
            c.call("/v3/kv/compaction", {"revision": str(target)})
        c.call("/v3/kv/range", {"key": b64(KEYS[0])})  # learn the newest revision again
        time.sleep(self.interval_s)


class Traffic:
    """Runs clients in threads until stop(); each client's ops stay in its own list."""

    def __init__(self, urls: dict[str, str], workload: str, rng: random.Random,
                 pinned_per_member: int = 2, cluster_wide: int = 2,
                 compaction: bool = True, max_qps: float = 300.0,
                 security: Security | None = None) -> None:
        names = list(urls)
        tls = security.context if security is not None else None
        self.clients: list[Client] = []
        for i in range(pinned_per_member * len(names) + cluster_wide):
            if i < pinned_per_member * len(names):
                mine = names[i % len(names)]
                order = [mine]
            else:
                start = i % len(names)
                order = names[start:] + names[:start]
            self.clients.append(Client(i + 1, [urls[n] for n in order], order,
                                       random.Random(rng.random()), workload, tls=tls,
                                       login=security.client if security else None))
        self.compactor = None
        if compaction:
            c = Client(len(self.clients) + 1, [urls[n] for n in names], names,
                       random.Random(rng.random()), workload, tls=tls,
                       login=security.root if security else None)
            self.clients.append(c)
            self.compactor = Compactor(c)
        # Each client keeps its share of max_qps: histories stay small enough to check.
        self.interval_s = len(self.clients) / max_qps
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for c in self.clients:
            step = self.compactor.step if self.compactor and c is self.compactor.client \
                else c.step
            t = threading.Thread(target=self._run, args=(step,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, step) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            step()
            due = max(due + self.interval_s, time.monotonic() - self.interval_s)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(REQUEST_TIMEOUT_S * 3)
        for c in self.clients:
            c.close()

    def operations(self) -> list[RawOp]:
        return [op for c in self.clients for op in c.ops]

    def count(self) -> int:
        return sum(len(c.ops) for c in self.clients)

    def max_revision(self) -> int:
        return max((c.last_revision for c in self.clients), default=0)
