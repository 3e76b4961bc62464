"""The client's pure parts: wire mapping, txn builder, retry policy, ranges, ctl parsing and
printing."""
from petcd.client import convert, errors, messages as m, txn as t
from petcd.client.ranges import key_range, prefix_end
from petcd.client.retry import RetryPolicy, is_idempotent
from petcd.common import cluster, kv
from petcd.ctl import display
from petcd.ctl.cli import hoist_global_flags, parse_duration_s
from petcd.ctl.txn_parse import TxnSyntaxError, parse_compare, parse_txn


def test_gateway_json_round_trip_uses_proto_names_strings_and_base64():
    resp = convert.load(kv.RangeResponse, {
        "header": {"cluster_id": "1", "revision": "3"}, "count": "1",
        "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "3", "version": "2",
                 "value": "YmFy"}]})
    assert resp.kvs[0].key == b"foo" and resp.kvs[0].value == b"bar" and resp.count == 1
    assert convert.dump(kv.PutRequest(key=b"k", value=b"", lease=5), "gateway") == \
        {"key": "aw==", "lease": "5"}


def test_wire_names_differ_per_message():
    g = convert.load(m.LeaseGrantResponse, {"ID": "7", "TTL": "10"})
    assert (g.id, g.ttl) == (7, 10)
    s = convert.load(cluster.StatusResponse, {"raftTerm": "4", "header": {"raft_term": "4"},
                                              "dbSize": "20480"})
    assert s.raft_term == 4 and s.db_size == 20480
    assert convert.dump(cluster.HashKVResponse(hash=5, compact_revision=-1), "gateway") == \
        {"hash": 5, "compact_revision": "-1"}


def test_native_style_keeps_bytes_and_ints():
    assert convert.dump(kv.RangeRequest(key=b"a", limit=2, sort_order=kv.SortOrder.DESCEND),
                        "native") == {"key": b"a", "limit": 2, "sort_order": 2}


def test_etcdctl_json_has_numbers_and_keeps_present_headers():
    r = kv.PutResponse(header=kv.ResponseHeader(revision=8))
    assert display.to_json(display.etcdctl_json(r)) == '{"header":{"revision":8}}'


def test_txn_builder_makes_etcd_compares_and_ops():
    req = (t.Txn().when(t.value("k") == "v", t.mod("k") < 10, t.create("n") == 0)
           .then(t.put("k", "w", lease=3), t.get("p", prefix=True))
           .otherwise(t.delete("k"))).request()
    assert req.compare[0] == kv.Compare(result=kv.CompareResult.EQUAL,
                                        target=kv.CompareTarget.VALUE, key=b"k", value=b"v")
    assert req.compare[1].result == kv.CompareResult.LESS and req.compare[1].mod_revision == 10
    assert req.success[0].request_put.lease == 3
    assert req.success[1].request_range.range_end == b"q"
    assert req.failure[0].request_delete_range.key == b"k"


def test_prefix_end_follows_clientv3():
    assert prefix_end(b"aa") == b"ab"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"
    assert key_range("", prefix=True) == (b"\0", b"\0")
    assert key_range("a", from_key=True) == (b"a", b"\0")


def test_retry_only_reads_and_guarded_writes():
    p = RetryPolicy(attempts=3)
    unavailable = errors.Unavailable("etcdserver: leader changed")
    assert p.should_retry("Range", kv.RangeRequest(key=b"a"), unavailable, 1)
    assert not p.should_retry("Put", kv.PutRequest(key=b"a"), unavailable, 1)
    assert p.should_retry("Put", kv.PutRequest(key=b"a"), unavailable, 1, sent=False)
    cas = (t.Txn().when(t.mod("a") == 4).then(t.put("a", "b"))).request()
    assert is_idempotent("Txn", cas)
    assert not is_idempotent("Txn", (t.Txn().when(t.mod("a") < 4).then(t.put("a", "b"))).request())
    assert not p.should_retry("Range", kv.RangeRequest(key=b"a"), errors.NotFound("x"), 1)
    assert not p.should_retry("Range", kv.RangeRequest(key=b"a"), unavailable, 3)
    assert p.backoff_s(1) < p.backoff_s(2) <= p.backoff_max_s


def test_errors_are_typed_by_code():
    e = errors.from_answer({"error": "etcdserver: requested lease not found",
                            "message": "etcdserver: requested lease not found", "code": 5})
    assert isinstance(e, errors.NotFound) and e.code == 5
    s = errors.from_answer({"error": {"grpc_code": 14, "message": "etcdserver: no leader"}})
    assert isinstance(s, errors.Unavailable) and s.message == "etcdserver: no leader"


def test_txn_language():
    lines = iter(['value("foo") = "bar"\n', 'mod("foo") > "3"\n', "\n", "put k v\n",
                  "get a --prefix\n", "\n", "del x\n", "\n"])
    txn = parse_txn(lambda: next(lines, ""))
    assert len(txn.compare) == 2 and txn.compare[1].mod_revision == 3
    assert txn.success[1].request_range.range_end == b"b"
    try:
        parse_compare("bogus")
        raise AssertionError("no error")
    except TxnSyntaxError as e:
        assert str(e) == "malformed comparison: bogus"


def test_global_flags_move_in_front_and_durations_parse():
    assert hoist_global_flags(["get", "k", "-w", "json", "--endpoints=a:1"]) == \
        ["--write-out", "json", "--endpoints=a:1", "get", "k"]
    assert parse_duration_s("1m30s") == 90 and parse_duration_s("500ms") == 0.5


def test_printers_match_etcdctl():
    assert display.humanize_bytes(20480) == "20 kB"
    assert display.humanize_bytes(1500) == "1.5 kB"
    assert display.go_duration(0.00167819) == "1.67819ms"
    assert display.table(["ID", "STATUS"], [["886b03c4ae679a15", "started"]]) == (
        "+------------------+---------+\n"
        "|        ID        | STATUS  |\n"
        "+------------------+---------+\n"
        "| 886b03c4ae679a15 | started |\n"
        "+------------------+---------+\n")
