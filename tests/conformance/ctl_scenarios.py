"""Scenarios for petcdctl against etcdctl: each is a list of command lines (argument lists,
optional stdin) run in order against a fresh single member. Recorded from etcdctl 3.4.23 and
a real etcd by record_ctl.py; replayed with petcdctl against petcd by
tests/integration/test_ctl_conformance.py, and with the real etcdctl against petcd by
tests/integration/test_etcdctl_conformance.py. `needs` names server features a scenario uses
(skipped while petcd lacks them).

A step that may not end by itself (watch, lock, elect, lease keep-alive without --once) has
`stop_after`: it gets SIGTERM after that many seconds (record_ctl.run_step), long enough for
a Python client to start and print what the server has; `hold_stdin` keeps the stdin of
`watch -i` open that long, after which etcdctl ends as its input ends. Replays end such a
step as soon as it has printed the recorded output. New steps go into new scenarios, so that
the recordings of the others stay valid."""
from __future__ import annotations

TXN = 'value("foo") = "bar"\n\nput k1 v1\nget foo\ndel nothing\n\nput k2 v2\n\n'
TXN_FAIL = 'mod("foo") > "100"\nversion("foo") = "1"\n\nput k1 v1\n\nget k --prefix\nput k3 v3 --prev-kv\n\n'
TXN_I = 'value("w1") = "b"\n\nput t1 v1\nget w --prefix\n\nget t1\n\n'
WATCH_ENV = 'echo "$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY=$ETCD_WATCH_VALUE $ETCD_WATCH_REVISION"'
# seconds a bounded step runs (see the docstring)
RUN_S = 3.0


def _s(*args, stdin=None, stop_after=None, hold_stdin=None):
    step = {"args": list(args), "stdin": stdin}
    if stop_after is not None:
        step["stop_after"] = stop_after
    if hold_stdin is not None:
        step["hold_stdin"] = hold_stdin
    return step


SCENARIOS = [
    {"name": "kv_basic", "needs": [], "steps": [
        _s("put", "foo", "bar"), _s("put", "foo2", "b a z"), _s("put", "foo", "bar2", "--prev-kv"),
        _s("get", "foo"), _s("get", "foo", "-w", "json"), _s("get", "foo", "-w", "fields"),
        _s("get", "f", "--prefix"), _s("get", "f", "--prefix", "--keys-only"),
        _s("get", "f", "--prefix", "--print-value-only"), _s("get", "f", "--prefix", "--limit", "1", "-w", "json"),
        _s("get", "f", "--prefix", "--order", "DESCEND", "--sort-by", "MODIFY"),
        _s("get", "foo", "foo3"), _s("get", "a", "--from-key"), _s("get", "foo", "--rev", "2"),
        _s("get", "foo", "--consistency", "s", "-w", "json"), _s("get", "f", "--prefix", "--count-only", "-w", "json"),
        _s("get", "foo", "--hex"), _s("put", "in", stdin="from stdin"), _s("get", "in"),
        _s("del", "nothing"), _s("del", "foo", "--prev-kv"), _s("del", "f", "--prefix", "-w", "json"),
        _s("get", "", "--prefix", "-w", "fields"),
    ]},
    {"name": "kv_errors", "needs": [], "steps": [
        _s("get"), _s("put"), _s("del"), _s("get", "foo", "--rev", "100"), _s("get", "foo", "-w", "table"),
        _s("get", "foo", "--order", "UP"), _s("get", "foo", "--sort-by", "SIZE"), _s("get", "--bogus"),
        _s("put", "k", "v", "--lease", "zz"), _s("compaction"), _s("compaction", "x"),
        _s("put", "k", "v", "--ignore-value"), _s("get", "a", "b", "--prefix"),
    ]},
    {"name": "txn", "needs": [], "steps": [
        _s("put", "foo", "bar"), _s("txn", stdin=TXN), _s("txn", "-w", "json", stdin=TXN),
        _s("txn", "-w", "fields", stdin=TXN_FAIL), _s("txn", stdin=TXN_FAIL),
        _s("txn", stdin="bogus\n"), _s("txn", stdin='value("foo") = "bar"\n'),
        _s("txn", stdin="\n\n\n"),
    ]},
    {"name": "compaction", "needs": [], "steps": [
        _s("put", "a", "1"), _s("put", "a", "2"), _s("put", "a", "3"), _s("compaction", "3"),
        _s("get", "a", "--rev", "2"), _s("get", "a", "--rev", "3"), _s("compaction", "2"),
        _s("compaction", "100"), _s("endpoint", "hashkv"),
    ]},
    {"name": "cluster", "needs": [], "steps": [
        _s("member", "list"), _s("member", "list", "-w", "json"), _s("member", "list", "-w", "table"),
        _s("member", "list", "-w", "fields"), _s("endpoint", "status"), _s("endpoint", "status", "-w", "table"),
        _s("endpoint", "status", "-w", "json"), _s("endpoint", "health", "-w", "table"),
        _s("endpoint", "health"), _s("endpoint", "status", "--cluster"),
        _s("alarm", "list"), _s("alarm", "disarm"), _s("move-leader", "zz"),
    ]},
    # <member_id_hex> is the member's id, <added_hex> the last member the scenario added
    # (record_ctl.Session). The last steps leave the cluster without a quorum: a second voter
    # that never starts.
    {"name": "members", "needs": ["members"], "steps": [
        _s("member", "add"), _s("member", "add", "x"),
        _s("member", "add", "x", "http://127.0.0.1:1"),
        _s("member", "add", "x", "--peer-urls=foo"),
        _s("member", "add", "l1", "--peer-urls=http://127.0.0.1:1", "--learner"),
        _s("member", "list"), _s("member", "list", "-w", "json"),
        _s("member", "add", "l2", "--peer-urls=http://127.0.0.1:2", "--learner"),
        _s("member", "add", "x", "--peer-urls=http://127.0.0.1:1,http://127.0.0.1:3"),
        _s("member", "promote", "<added_hex>"), _s("member", "promote", "<member_id_hex>"),
        _s("member", "promote", "1234"), _s("member", "promote", "zz"), _s("member", "promote"),
        # The member updates itself: etcd 3.4 makes a learner it updates a voter in its member
        # table (but not in raft); petcd keeps it a learner.
        _s("member", "update", "<member_id_hex>",
           "--peer-urls=http://127.0.0.1:<peer_port>,http://127.0.0.1:4"),
        _s("member", "update", "<member_id_hex>", "--peer-urls=http://127.0.0.1:<peer_port>",
           "-w", "json"),
        _s("member", "update", "<member_id_hex>", "--peer-urls=http://127.0.0.1:<peer_port>",
           "-w", "table"),
        _s("member", "update", "1234", "--peer-urls=http://127.0.0.1:7"),
        _s("member", "update", "<member_id_hex>", "--peer-urls=http://127.0.0.1:1"),
        _s("member", "update", "<member_id_hex>", "--peer-urls=http://127.0.0.1:7/x"),
        _s("member", "update", "<added_hex>"), _s("member", "list", "-w", "fields"),
        _s("member", "remove", "1234"), _s("member", "remove", "zz"),
        _s("member", "remove", "<member_id_hex>"),
        _s("member", "remove", "<added_hex>", "-w", "json"),
        _s("member", "add", "l3", "--peer-urls=http://127.0.0.1:8", "--learner", "-w", "json"),
        _s("member", "remove", "<added_hex>", "-w", "table"),
        _s("member", "add", "l4", "--peer-urls=http://127.0.0.1:9", "--learner", "-w", "fields"),
        _s("member", "list", "-w", "json"), _s("member", "remove", "<added_hex>"),
        _s("member", "add", "v1", "--peer-urls=http://127.0.0.1:10"),
        _s("member", "add", "v2", "--peer-urls=http://127.0.0.1:11"),
        _s("member", "add", "l5", "--peer-urls=http://127.0.0.1:12", "--learner"),
        _s("member", "list"),
    ]},
    {"name": "lease", "needs": ["lease"], "steps": [
        _s("lease", "list"), _s("lease", "revoke", "1234"), _s("lease", "timetolive", "1234"),
        _s("lease", "grant"), _s("lease", "keep-alive", "--once", "1234"),
    ]},
    # Served by the member itself, changing nothing: endpoint, alarm, move-leader to itself,
    # snapshot save (into the step's directory), the auth commands that need no user.
    {"name": "maintenance", "needs": [], "steps": [
        _s("endpoint", "status", "--cluster", "-w", "table"),
        _s("endpoint", "status", "--cluster", "-w", "json"),
        _s("endpoint", "status", "-w", "fields"), _s("endpoint", "hashkv", "--cluster"),
        _s("endpoint", "hashkv", "--cluster", "-w", "table"),
        _s("endpoint", "hashkv", "-w", "json"), _s("endpoint", "hashkv", "-w", "fields"),
        _s("endpoint", "hashkv", "--rev", "5"), _s("endpoint", "health", "--cluster"),
        _s("endpoint", "health", "-w", "json"), _s("endpoint", "health", "-w", "fields"),
        _s("alarm", "list", "-w", "json"), _s("alarm", "list", "-w", "table"),
        _s("alarm", "disarm", "-w", "json"), _s("move-leader", "<member_id_hex>"),
        _s("move-leader", "1234"), _s("move-leader"), _s("snapshot", "save", "snap.db"),
        _s("snapshot", "save"), _s("user", "list"), _s("user", "list", "-w", "json"),
        _s("role", "list"), _s("user", "get", "root"), _s("role", "get", "r"),
        _s("auth", "disable"), _s("auth", "enable"),
    ]},
    # Revisions 2-5, then watches from the past, errors, and watches of a compacted revision;
    # all bounded, also those that end by themselves. `watch -i`'s `progress` is left out:
    # its answer races the events of the watch before it.
    {"name": "watch", "needs": [], "steps": [
        _s("put", "w1", "a"), _s("put", "w1", "b"), _s("del", "w1"), _s("put", "w2", "c"),
        _s("watch", "w1", "--rev", "1", stop_after=RUN_S),
        _s("watch", "w", "--prefix", "--rev", "3", "--prev-kv", "-w", "json", stop_after=RUN_S),
        _s("watch", "w1", "w3", "--rev", "2", "-w", "fields", stop_after=RUN_S),
        _s("watch", stop_after=RUN_S), _s("watch", "a", "b", "--prefix", stop_after=RUN_S),
        _s("watch", "-i", "w1", stop_after=RUN_S),
        _s("watch", "w1", "--rev", "x", stop_after=RUN_S),
        _s("compaction", "4"), _s("watch", "w1", "--rev", "1", stop_after=RUN_S),
        _s("watch", "w1", "--rev", "2", "-w", "json", stop_after=RUN_S),
    ]},
    # The interactive modes and watch's exec form (one watch at a time: two would print in
    # a random order).
    {"name": "interactive", "needs": [], "steps": [
        _s("put", "w1", "a"), _s("put", "w1", "b"), _s("txn", "-i", stdin=TXN_I),
        _s("watch", "-i", stdin="watch w1 --rev 1\nbogus\n", hold_stdin=RUN_S,
           stop_after=2 * RUN_S),
        _s("watch", "w1", "--rev", "1", "--", "sh", "-c", WATCH_ENV, stop_after=RUN_S),
    ]},
    # <lease_hex> is the last lease the scenario granted (record_ctl.Session), lock's and
    # elect's included.
    {"name": "lease_ops", "needs": ["lease"], "steps": [
        _s("lease", "grant", "60"), _s("lease", "keep-alive", "--once", "<lease_hex>"),
        _s("lease", "keep-alive", "--once", "<lease_hex>", "-w", "json"),
        _s("lease", "keep-alive", "--once", "<lease_hex>", "-w", "fields"),
        _s("put", "lk", "v", "--lease", "<lease_hex>"), _s("get", "lk", "-w", "json"),
        _s("lease", "timetolive", "<lease_hex>"),
        _s("lease", "timetolive", "--keys", "<lease_hex>"),
        _s("lease", "timetolive", "--keys", "<lease_hex>", "-w", "json"),
        _s("lease", "list"), _s("lease", "list", "-w", "json"),
        _s("lease", "keep-alive", "<lease_hex>", stop_after=RUN_S),
        _s("lease", "revoke", "<lease_hex>"), _s("get", "lk"),
        _s("lease", "keep-alive", "<lease_hex>", stop_after=RUN_S),
        _s("lease", "keep-alive", "--once", "<lease_hex>"),
        _s("lease", "timetolive", "<lease_hex>"), _s("lease", "grant", "60", "-w", "json"),
        _s("lease", "revoke", "<lease_hex>", "-w", "json"), _s("lease", "grant", "0"),
        _s("lease", "grant", "x"), _s("lock"), _s("lock", "mylock", "echo", "locked"),
        _s("lock", "mylock", stop_after=RUN_S), _s("elect"), _s("elect", "myelect"),
        _s("elect", "myelect", "p1", stop_after=RUN_S),
    ]},
    {"name": "defrag", "needs": ["defrag"], "steps": [
        _s("defrag"), _s("defrag", "--cluster"), _s("defrag", "-w", "json"),
    ]},
    {"name": "auth_users", "needs": ["auth"], "steps": [
        _s("user", "add", "u1", "--new-user-password=p"),
        _s("user", "add", "u1", "--new-user-password=p"), _s("user", "get", "u1"),
        _s("role", "add", "r1"), _s("role", "grant-permission", "r1", "readwrite", "foo"),
        _s("role", "get", "r1"), _s("user", "grant-role", "u1", "r1"),
        _s("user", "get", "u1", "--detail"), _s("user", "list"), _s("role", "list"),
        _s("user", "revoke-role", "u1", "r1"), _s("role", "revoke-permission", "r1", "foo"),
        _s("user", "delete", "u1"), _s("role", "delete", "r1"),
        _s("user", "add", "root", "--new-user-password=rootpw"), _s("auth", "enable"),
        _s("get", "foo"), _s("get", "foo", "--user", "root:rootpw"),
        _s("user", "list", "--user", "root:rootpw"),
        _s("auth", "disable", "--user", "root:rootpw"),
        _s("role", "add", "root"), _s("user", "grant-role", "root", "root"),
        _s("user", "add", "alice", "--new-user-password=apw"), _s("role", "add", "r2"),
        _s("role", "grant-permission", "r2", "read", "a", "c"),
        _s("role", "grant-permission", "r2", "write", "p/", "--prefix"),
        _s("role", "grant-permission", "r2", "readwrite", "x", "--from-key"),
        _s("role", "get", "r2"), _s("role", "get", "r2", "-w", "json"),
        _s("user", "grant-role", "alice", "r2"), _s("user", "get", "alice", "--detail"),
        _s("user", "list", "-w", "json"), _s("role", "list", "-w", "json"),
        _s("put", "b", "1"), _s("auth", "enable"), _s("auth", "enable", "--user", "root:rootpw"),
        _s("get", "b", "--user", "alice:apw"), _s("get", "b", "--user", "alice:wrong"),
        _s("get", "b", "--user", "nosuch:x"), _s("put", "b", "2", "--user", "alice:apw"),
        _s("put", "p/1", "v", "--user", "alice:apw"), _s("get", "p/1", "--user", "alice:apw"),
        _s("put", "xyz", "v", "--user", "alice:apw"),
        _s("get", "x", "--from-key", "--user", "alice:apw"),
        _s("get", "a", "z", "--user", "alice:apw"),
        _s("del", "p/", "--prefix", "--user", "alice:apw"),
        _s("user", "list", "--user", "alice:apw"),
        _s("user", "get", "alice", "--user", "alice:apw"),
        _s("role", "get", "r2", "--user", "alice:apw"),
        _s("member", "list", "--user", "alice:apw"),
        _s("endpoint", "status", "--user", "alice:apw"),
        _s("endpoint", "hashkv", "--user", "alice:apw"),
        _s("user", "passwd", "alice", "--new-user-password=apw2", "--user", "root:rootpw"),
        _s("get", "b", "--user", "alice:apw"), _s("get", "b", "--user", "alice:apw2"),
        _s("role", "revoke-permission", "r2", "a", "c", "--user", "root:rootpw"),
        _s("get", "b", "--user", "alice:apw2"),
        _s("user", "revoke-role", "root", "root", "--user", "root:rootpw"),
        _s("role", "delete", "root", "--user", "root:rootpw"),
        _s("user", "delete", "alice", "--user", "root:rootpw"),
        _s("user", "list", "--user", "root:rootpw"),
        _s("auth", "disable", "--user", "root:rootpw"), _s("get", "b"),
    ]},
]
