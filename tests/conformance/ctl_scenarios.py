"""Scenarios for petcdctl against etcdctl: each is a list of command lines (argument lists,
optional stdin) run in order against a fresh single member. Recorded from etcdctl 3.4.23 and
a real etcd by record_ctl.py; replayed with petcdctl against petcd by
tests/integration/test_ctl_conformance.py. `needs` names server features a scenario uses
(skipped while petcd lacks them)."""
from __future__ import annotations

TXN = 'value("foo") = "bar"\n\nput k1 v1\nget foo\ndel nothing\n\nput k2 v2\n\n'
TXN_FAIL = 'mod("foo") > "100"\nversion("foo") = "1"\n\nput k1 v1\n\nget k --prefix\nput k3 v3 --prev-kv\n\n'


def _s(*args, stdin=None):
    return {"args": list(args), "stdin": stdin}


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
]
