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
    {"name": "lease", "needs": ["lease"], "steps": [
        _s("lease", "list"), _s("lease", "revoke", "1234"), _s("lease", "timetolive", "1234"),
        _s("lease", "grant"), _s("lease", "keep-alive", "--once", "1234"),
    ]},
]
