"""The Auth scenarios recorded from a real etcd 3.4.23 (see record.py and README.md).

A step with `"as": NAME` sends the token the scenario's last successful authenticate of user
NAME returned, raw in the Authorization header as etcd's gateway wants it; `"token": TEXT`
sends TEXT itself (a forged or malformed token). Answers carry `"token": "<token>"`: tokens are
random.

Left out because etcd 3.4.23 crashes on it (a nil pointer in RoleGrantPermission): a
role/grant without `perm`. petcd answers it as etcd 3.5 does (docs/compatibility.md).
"""
from __future__ import annotations

from tests.conformance.kv_scenarios import B, S, cmp, delete, op_del, op_put, op_range, post


def as_(user: str, step: dict) -> dict:
    return {**step, "as": user}


def a(path: str, body=None, user: str | None = None) -> dict:
    step = post("/v3/auth/" + path, body if body is not None else {})
    return as_(user, step) if user else step


def kv(path: str, body: dict, user: str | None = None) -> dict:
    step = post("/v3/kv/" + path, body)
    return as_(user, step) if user else step


def perm(kind: str, key: str, range_end: str | None = None) -> dict:
    p = {"permType": kind, "key": B(key)}
    if range_end is not None:
        p["range_end"] = B(range_end)
    return p


def login(name: str, password: str) -> dict:
    return a("authenticate", {"name": name, "password": password})


# root with the root role, auth enabled, root logged in
_ROOT_ON = [a("user/add", {"name": "root", "password": "rootpw"}), a("role/add", {"name": "root"}),
            a("user/grant", {"user": "root", "role": "root"}), a("enable"),
            login("root", "rootpw")]

# alice holds r1: read [a, b), readwrite w, write the prefix p/, read from x on
_ALICE = [a("user/add", {"name": "alice", "password": "apw"}, "root"),
          a("role/add", {"name": "r1"}, "root"),
          a("role/grant", {"name": "r1", "perm": perm("READ", "a", "b")}, "root"),
          a("role/grant", {"name": "r1", "perm": perm("READWRITE", "w")}, "root"),
          a("role/grant", {"name": "r1", "perm": perm("WRITE", "p/", "p0")}, "root"),
          a("role/grant", {"name": "r1", "perm": perm("READ", "x", "\x00")}, "root"),
          a("user/grant", {"user": "alice", "role": "r1"}, "root"),
          login("alice", "apw")]


SCENARIOS: list[dict] = [
    S("auth_admin", "Users and roles with auth disabled: add, get, list (sorted), grant and "
      "revoke roles and permissions (merged, sorted), change a password, delete; every error; "
      "enable's preconditions; authenticate while disabled.",
      a("user/list"), a("role/list"), a("enable"),
      a("user/add", {"name": "root", "password": "rootpw"}), a("enable"),
      a("role/add", {"name": "root"}), a("user/add", {"name": "root", "password": "x"}),
      a("user/add", {"password": "x"}), a("user/add", {"name": "bob", "options": {"no_password": True}}),
      a("user/add", {"name": "carol", "password": "cpw"}), a("role/add", {"name": "root"}),
      a("role/add", {}), a("role/add", {"name": "r2"}), a("role/add", {"name": "r1"}),
      a("role/grant", {"name": "r1", "perm": perm("READ", "b", "c")}),
      a("role/grant", {"name": "r1", "perm": perm("WRITE", "a")}),
      a("role/grant", {"name": "r1", "perm": perm("READWRITE", "b", "c")}),
      a("role/grant", {"name": "r1", "perm": perm("READ", "k", "\x00")}),
      a("role/grant", {"name": "nosuch", "perm": perm("READ", "a")}),
      a("role/get", {"role": "r1"}), a("role/get", {"role": "nosuch"}), a("role/get", {}),
      a("role/get", {"role": "root"}),
      a("role/revoke", {"role": "r1", "key": B("a")}),
      a("role/revoke", {"role": "r1", "key": B("a")}),
      a("role/revoke", {"role": "r1", "key": B("b")}),
      a("role/revoke", {"role": "nosuch", "key": B("b")}),
      a("role/get", {"role": "r1"}),
      a("user/grant", {"user": "carol", "role": "r2"}), a("user/grant", {"user": "carol", "role": "r1"}),
      a("user/grant", {"user": "carol", "role": "r1"}),
      a("user/grant", {"user": "carol", "role": "nosuch"}),
      a("user/grant", {"user": "nosuch", "role": "r1"}), a("user/grant", {"role": "r1"}),
      a("user/get", {"name": "carol"}), a("user/get", {"name": "bob"}), a("user/get", {"name": "nosuch"}),
      a("user/get", {}),
      a("user/revoke", {"name": "carol", "role": "r2"}), a("user/revoke", {"name": "carol", "role": "r2"}),
      a("user/revoke", {"name": "nosuch", "role": "r2"}), a("user/get", {"name": "carol"}),
      a("user/changepw", {"name": "carol", "password": "new"}),
      a("user/changepw", {"name": "nosuch", "password": "new"}),
      a("user/list"), a("role/list"),
      a("role/delete", {"role": "r1"}), a("role/delete", {"role": "r1"}), a("user/get", {"name": "carol"}),
      a("user/delete", {"name": "bob"}), a("user/delete", {"name": "bob"}),
      a("user/revoke", {"name": "root", "role": "root"}), a("role/delete", {"role": "root"}),
      a("user/list"), a("role/list"), login("root", "rootpw"), a("disable"),
      a("user/grant", {"user": "root", "role": "root"}), a("enable"), a("enable"),
      a("user/revoke", {"name": "root", "role": "root"}), kv("range", {"key": B("a")})),

    S("auth_login", "Authenticate with auth on: good, wrong password, unknown user, a user "
      "without password; tokens raw in Authorization, as Bearer, forged, missing.",
      a("user/add", {"name": "bob", "options": {"no_password": True}}), *_ROOT_ON[:4],
      a("user/add", {"name": "root2", "password": "x"}),
      login("root", "rootpw"), login("root", "wrong"), login("nosuch", "x"), login("bob", "x"),
      login("bob", ""), login("", ""),
      as_("root", kv("put", {"key": B("k"), "value": B("v")})),
      kv("put", {"key": B("k"), "value": B("v")}), kv("range", {"key": B("k")}),
      {**kv("range", {"key": B("k")}), "token": "notatoken"},
      {**kv("range", {"key": B("k")}), "token": "abcdefghijklmnop.1"},
      {**kv("range", {"key": B("k")}), "bearer": "root"},
      as_("root", kv("range", {"key": B("k")})), a("user/list"),
      as_("root", a("user/list")), a("enable"), as_("root", a("enable")),
      as_("root", a("user/delete", {"name": "root"})),
      as_("root", a("disable")), kv("range", {"key": B("k")}),
      as_("root", kv("range", {"key": B("k")})), {**kv("range", {"key": B("k")}), "token": "bogus"},
      login("root", "rootpw")),

    S("auth_permissions", "A user's key permissions on every KV path: single keys, ranges, "
      "prefixes and from-key, read against write, prev_kv, txns (compares and both branches), "
      "deletes; root bypasses.",
      *_ROOT_ON, *_ALICE,
      as_("root", kv("put", {"key": B("a"), "value": B("1")})),
      as_("root", kv("put", {"key": B("w"), "value": B("1")})),
      kv("range", {"key": B("a")}, "alice"), kv("range", {"key": B("a"), "range_end": B("b")}, "alice"),
      kv("range", {"key": B("a"), "range_end": B("c")}, "alice"),
      kv("range", {"key": B("a"), "range_end": B("az")}, "alice"),
      kv("range", {"key": B("b")}, "alice"), kv("range", {"key": B("w")}, "alice"),
      kv("range", {"key": B("x"), "range_end": B("\x00")}, "alice"),
      kv("range", {"key": B("y"), "range_end": B("z")}, "alice"),
      kv("range", {"key": B("\x00"), "range_end": B("\x00")}, "alice"),
      kv("range", {"key": B("p/1")}, "alice"),
      kv("range", {"key": B("a"), "serializable": True}, "alice"),
      kv("range", {"key": B("b"), "serializable": True}, "alice"),
      kv("put", {"key": B("a"), "value": B("2")}, "alice"),
      kv("put", {"key": B("w"), "value": B("2")}, "alice"),
      kv("put", {"key": B("w"), "value": B("3"), "prev_kv": True}, "alice"),
      kv("put", {"key": B("p/1"), "value": B("1")}, "alice"),
      kv("put", {"key": B("p/1"), "value": B("1"), "prev_kv": True}, "alice"),
      kv("put", {"key": B("q"), "value": B("1")}, "alice"),
      kv("deleterange", {"key": B("p/1")}, "alice"),
      kv("deleterange", {"key": B("p/"), "range_end": B("p0")}, "alice"),
      kv("deleterange", {"key": B("p/"), "range_end": B("p0"), "prev_kv": True}, "alice"),
      kv("deleterange", {"key": B("a")}, "alice"),
      kv("txn", {"compare": [cmp("w", "VERSION", "GREATER", "0")],
                 "success": [op_put("w", "t")], "failure": [op_range("a")]}, "alice"),
      kv("txn", {"compare": [cmp("q", "VERSION", "GREATER", "0")],
                 "success": [op_put("w", "t")]}, "alice"),
      kv("txn", {"success": [op_range("a")], "failure": [op_put("a", "z")]}, "alice"),
      kv("txn", {"success": [op_range("a"), op_range("x", "\x00")]}, "alice"),
      kv("txn", {"success": [op_range("a"), op_range("q")]}, "alice"),
      kv("txn", {"success": [op_del("p/", "p0")]}, "alice"),
      kv("txn", {"success": [op_del("p/", "p0", prev_kv=True)]}, "alice"),
      as_("root", kv("range", {"key": B("\x00"), "range_end": B("\x00"), "keys_only": True})),
      as_("root", delete("\x00", "\x00")),
      # last: etcd 3.4.23 does not check a nested txn's ops (petcd does)
      kv("txn", {"success": [{"request_txn": {"success": [op_put("q", "n")]}}]}, "alice")),

    S("auth_admin_rpcs", "What a non-root user may do outside KV: its own user and roles, "
      "leases (revoke needs write on every attached key), compaction, maintenance, members, "
      "alarms; what it may not.",
      *_ROOT_ON, *_ALICE,
      a("user/get", {"name": "alice"}, "alice"), a("user/get", {"name": "root"}, "alice"),
      a("user/list", {}, "alice"), a("role/get", {"role": "r1"}, "alice"),
      a("role/get", {"role": "root"}, "alice"), a("role/list", {}, "alice"),
      a("user/changepw", {"name": "alice", "password": "x"}, "alice"),
      a("role/add", {"name": "r9"}, "alice"), a("disable", {}, "alice"),
      as_("alice", post("/v3/lease/grant", {"TTL": 600, "ID": 100})),
      as_("root", post("/v3/lease/grant", {"TTL": 600, "ID": 200})),
      kv("put", {"key": B("w"), "value": B("l"), "lease": 100}, "alice"),
      as_("root", kv("put", {"key": B("z"), "value": B("l"), "lease": 200})),
      kv("put", {"key": B("w"), "value": B("l"), "lease": 200}, "alice"),
      as_("alice", post("/v3/lease/timetolive", {"ID": 200, "keys": True})),
      as_("alice", post("/v3/lease/leases", {})),
      as_("alice", post("/v3/lease/revoke", {"ID": 200})),
      as_("alice", post("/v3/lease/revoke", {"ID": 100})),
      post("/v3/lease/grant", {"TTL": 600, "ID": 300}),
      post("/v3/lease/revoke", {"ID": 300}),
      as_("alice", post("/v3/kv/compaction", {"revision": 1})),
      as_("alice", post("/v3/maintenance/status", {})),
      as_("alice", post("/v3/maintenance/hash", {})),
      as_("alice", post("/v3/maintenance/hashkv", {})),
      as_("alice", post("/v3/maintenance/defragment", {})),
      as_("alice", post("/v3/maintenance/snapshot", {})),
      as_("alice", post("/v3/maintenance/alarm", {"action": "GET"})),
      as_("alice", post("/v3/maintenance/alarm", {"action": "DEACTIVATE", "alarm": "NOSPACE",
                                                  "memberID": "<member_id>"})),
      as_("alice", post("/v3/maintenance/transfer-leadership", {"targetID": "<member_id>"})),
      as_("alice", post("/v3/cluster/member/list", {})),
      as_("alice", post("/v3/cluster/member/add", {"peerURLs": ["http://127.0.0.1:1"]})),
      as_("alice", post("/v3/cluster/member/remove", {"ID": "1"})),
      post("/v3/maintenance/status", {}), post("/v3/maintenance/hash", {}),
      post("/v3/cluster/member/list", {}),
      as_("root", post("/v3/maintenance/hash", {})),
      as_("root", post("/v3/cluster/member/remove", {"ID": "1"}))),

    S("auth_changes", "Changes take effect for the next request: a revoked permission, a "
      "revoked role, a changed password (old tokens stay valid), a deleted user (its tokens "
      "die), auth disabled and enabled again (every token dies).",
      *_ROOT_ON, *_ALICE,
      kv("put", {"key": B("w"), "value": B("1")}, "alice"),
      a("role/revoke", {"role": "r1", "key": B("w")}, "root"),
      kv("put", {"key": B("w"), "value": B("2")}, "alice"),
      kv("range", {"key": B("a")}, "alice"),
      a("user/revoke", {"name": "alice", "role": "r1"}, "root"),
      kv("range", {"key": B("a")}, "alice"),
      a("user/grant", {"user": "alice", "role": "r1"}, "root"),
      kv("range", {"key": B("a")}, "alice"),
      a("user/changepw", {"name": "alice", "password": "apw2"}, "root"),
      kv("range", {"key": B("a")}, "alice"), login("alice", "apw"), login("alice", "apw2"),
      kv("range", {"key": B("a")}, "alice"),
      a("role/delete", {"role": "r1"}, "root"), kv("range", {"key": B("a")}, "alice"),
      a("user/get", {"name": "alice"}, "root"),
      a("user/delete", {"name": "alice"}, "root"), kv("range", {"key": B("a")}, "alice"),
      login("alice", "apw2"), a("disable", {}, "root"), kv("range", {"key": B("a")}, "root"),
      kv("range", {"key": B("a")}), a("enable"), kv("range", {"key": B("a")}, "root"),
      login("root", "rootpw"), kv("range", {"key": B("a")}, "root")),
]
