"""MVCC revisions: bumping per request kind, generations, tombstones, events, atomic batches."""
import pytest

from petcd.common.errors import (
    ErrEmptyKey, ErrKeyNotFound, ErrLeaseExist, ErrLeaseNotFound, EtcdError,
)
from petcd.common.kv import (
    CompactionRequest, DeleteRangeRequest, EventType, KeyValue, PutRequest, ResponseHeader,
)
from tests.unit.mvcc_util import apply, open_store, rng, store  # noqa: F401


def test_fresh_store_is_at_revision_1(store):
    assert store.current_revision() == 1
    assert store.compact_revision() == -1  # never compacted, as etcd's compactMainRev
    assert store.applied_index() == 0
    resp = rng(store, b"\0", b"\0")
    assert resp.header == ResponseHeader(revision=1) and resp.kvs == () and resp.count == 0


def test_every_put_bumps_even_with_the_same_value(store, apply):
    assert apply.put(b"foo", b"bar").header.revision == 2
    r = apply.put(b"foo", b"bar", prev_kv=True)
    assert r.header.revision == 3
    assert r.prev_kv == KeyValue(b"foo", 2, 2, 1, b"bar", 0)
    assert rng(store, b"foo").kvs == (KeyValue(b"foo", 2, 3, 2, b"bar", 0),)
    assert store.current_revision() == 3


def test_prev_kv_only_if_asked_and_existing(apply):
    assert apply.put(b"a", b"1", prev_kv=True).prev_kv is None
    assert apply.put(b"a", b"2").prev_kv is None


def test_delete_bumps_once_for_all_keys_and_not_when_nothing_matches(store, apply):
    apply.put(b"a1", b"x")
    apply.put(b"a2", b"y")
    apply.put(b"b", b"z")
    r = apply.delete(b"a", b"b", prev_kv=True)
    assert r.header.revision == 5 and r.deleted == 2
    assert [kv.key for kv in r.prev_kvs] == [b"a1", b"a2"]
    assert r.prev_kvs[0] == KeyValue(b"a1", 2, 2, 1, b"x", 0)
    r = apply.delete(b"a", b"b")
    assert r.header.revision == 5 and r.deleted == 0 and r.prev_kvs == ()
    assert apply.delete(b"zzz").header.revision == 5
    assert store.current_revision() == 5
    assert apply.delete(b"b").prev_kvs == ()     # prev_kvs only with prev_kv


def test_generations_delete_resets_version_recreate_gets_new_create_revision(store, apply):
    # etcd-api.md 2 [obs]: put e@2, del@4, put@5 -> create 5, version 1.
    apply.put(b"e", b"1")
    apply.put(b"other", b"x")
    apply.delete(b"e")
    apply.put(b"e", b"2")
    assert rng(store, b"e").kvs == (KeyValue(b"e", 5, 5, 1, b"2", 0),)
    apply.put(b"e", b"3")
    assert rng(store, b"e").kvs == (KeyValue(b"e", 5, 6, 2, b"3", 0),)
    # History keeps each generation.
    assert rng(store, b"e", revision=2).kvs == (KeyValue(b"e", 2, 2, 1, b"1", 0),)
    assert rng(store, b"e", revision=4).kvs == ()
    assert rng(store, b"e", revision=4).count == 0
    assert rng(store, b"e", revision=1).kvs == ()


def test_events_put_and_delete(store):
    with store.batch(1) as b:
        b.put(PutRequest(b"k", b"v1"))
        b.put(PutRequest(b"k", b"v2"))
        b.delete_range(DeleteRangeRequest(b"k"))
        b.delete_range(DeleteRangeRequest(b"nothing"))
    assert b.committed
    ev = b.events
    assert [e.type for e in ev] == [EventType.PUT, EventType.PUT, EventType.DELETE]
    assert ev[0].kv == KeyValue(b"k", 2, 2, 1, b"v1", 0) and ev[0].prev_kv is None
    assert ev[1].kv == KeyValue(b"k", 2, 3, 2, b"v2", 0) and ev[1].prev_kv == ev[0].kv
    # DELETE: kv = {key, mod_revision}; prev_kv = the kv deleted.
    assert ev[2].kv == KeyValue(key=b"k", mod_revision=4) and ev[2].prev_kv == ev[1].kv


def test_events_match_history_read_back(store):
    with store.batch(1) as b:
        b.put(PutRequest(b"a", b"1"))
        b.put(PutRequest(b"b", b"2"))
        b.put(PutRequest(b"a", b"3"))
        b.delete_range(DeleteRangeRequest(b"a", b"c"))
    assert store.events(2, prev_kv=True) == b.events
    assert [e.kv.mod_revision for e in store.events(3, 4)] == [3, 4]
    assert len(store.events(2, limit=2)) == 2
    with store.batch(2) as b2:
        b2.compact(CompactionRequest(3))
    with pytest.raises(EtcdError) as ei:
        store.events(2)
    assert ei.value.code == 11


def test_record_events_off(store):
    with store.batch(1, record_events=False) as b:
        b.put(PutRequest(b"k", b"v"))
    assert b.events is None and store.current_revision() == 2


def test_aborted_batch_applies_nothing_and_keeps_the_index(tmp_path):
    path = str(tmp_path / "db")
    s = open_store(path)
    with s.batch(5, 2) as b:
        b.put(PutRequest(b"a", b"1"))
    with pytest.raises(ZeroDivisionError):
        with s.batch(9, 2) as b:
            b.put(PutRequest(b"a", b"2"))
            b.put(PutRequest(b"b", b"2"))
            assert b.range_kvs(b"a", b"", b.rev)[0][0].value == b"2"
            1 / 0   # the process "crashes" mid-batch
    assert not b.committed
    assert s.applied_index() == 5 and s.current_revision() == 2
    assert rng(s, b"a").kvs[0].value == b"1" and rng(s, b"b").kvs == ()
    s.close()
    # Reopen: what is on disk agrees.
    s = open_store(path)
    assert s.applied_index() == 5 and s.current_revision() == 2
    assert s.applied_term() == 2
    assert rng(s, b"\0", b"\0").count == 1
    # The same entries can be applied again from index 6, and revisions continue at 3.
    with s.batch(9) as b:
        assert b.put(PutRequest(b"a", b"2")).header.revision == 3
    s.close()


def test_batch_index_must_not_go_back(store):
    with store.batch(10):
        pass
    assert store.applied_index() == 10
    with pytest.raises(ValueError):
        store.batch(9)
    with store.batch(10):       # an empty batch at the same index is fine
        pass


def test_one_batch_at_a_time(store):
    with store.batch(1):
        with pytest.raises(RuntimeError):
            store.batch(2)


def test_failed_put_leaves_no_trace_and_batch_continues(store):
    with store.batch(1) as b:
        with pytest.raises(EtcdError) as ei:
            b.put(PutRequest(b"k", b"v", lease=77))
        assert ei.value == ErrLeaseNotFound
        with pytest.raises(EtcdError) as ei:
            b.put(PutRequest(b"k", ignore_value=True))
        assert ei.value == ErrKeyNotFound
        with pytest.raises(EtcdError) as ei:
            b.put(PutRequest(b"k", ignore_lease=True))
        assert ei.value == ErrKeyNotFound
        with pytest.raises(EtcdError) as ei:
            b.put(PutRequest(b"", b"v"))
        assert ei.value == ErrEmptyKey
        assert b.put(PutRequest(b"k", b"v")).header.revision == 2
    assert store.current_revision() == 2 and b.events[0].kv.mod_revision == 2
    assert len(b.events) == 1


def test_plain_put_checks_lease_before_ignore(store):
    with store.batch(1) as b:
        with pytest.raises(EtcdError) as ei:
            b.put(PutRequest(b"missing", ignore_value=True, lease=5))
        assert ei.value == ErrLeaseNotFound


def test_ignore_value_and_ignore_lease(store, apply):
    apply("lease_grant", 7, 60)
    apply("lease_grant", 8, 60)
    apply.put(b"k", b"v1", lease=7)
    r = apply.put(b"k", b"", ignore_value=True, lease=8)
    assert rng(store, b"k").kvs == (KeyValue(b"k", 2, 3, 2, b"v1", 8),)
    assert store.lease_keys(7) == [] and store.lease_keys(8) == [b"k"]
    apply.put(b"k", b"v2", ignore_lease=True)
    assert rng(store, b"k").kvs == (KeyValue(b"k", 2, 4, 3, b"v2", 8),)
    apply.put(b"k", b"v3")      # a put without lease detaches it
    assert rng(store, b"k").kvs[0].lease == 0 and store.lease_keys(8) == []
    assert r.header.revision == 3


def test_lease_grant_revoke_deletes_keys_in_one_revision(store, apply):
    apply("lease_grant", 100, 30)
    with pytest.raises(EtcdError) as ei:
        apply("lease_grant", 100, 30)
    assert ei.value == ErrLeaseExist
    assert store.current_revision() == 1     # grants do not bump
    apply.put(b"b", b"1", lease=100)
    apply.put(b"a", b"2", lease=100)
    apply.put(b"c", b"3")
    assert store.lease_keys(100) == [b"a", b"b"]
    assert store.lease(100) == (30, 0)
    apply.index += 1
    with store.batch(apply.index) as b:
        assert b.lease_revoke(100) == 5
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in b.events] == [
        (EventType.DELETE, b"a", 5), (EventType.DELETE, b"b", 5)]
    assert store.current_revision() == 5 and store.leases() == []
    assert [kv.key for kv in rng(store, b"\0", b"\0").kvs] == [b"c"]
    with pytest.raises(EtcdError) as ei:
        apply("lease_revoke", 100)
    assert ei.value == ErrLeaseNotFound
    # Revoking a lease with no keys does not bump.
    apply("lease_grant", 101, 30)
    assert apply("lease_revoke", 101) == 5


def test_lease_checkpoint_and_cluster_ids_persist(tmp_path):
    path = str(tmp_path / "db")
    s = open_store(path)
    with s.batch(1) as b:
        b.lease_grant(5, 100)
        b.lease_checkpoint(5, 42)
        b.set_cluster_ids(0xabc, 0xdef)
    s.close()
    s = open_store(path)
    assert s.lease(5) == (100, 42)
    assert s.cluster_ids() == (0xabc, 0xdef)
    s.close()


def test_schema_version_mismatch_refused(tmp_path):
    from petcd.stages.apply import schema
    path = str(tmp_path / "db")
    s = open_store(path)
    with s._env.begin(write=True) as txn:
        schema.meta_put(txn, s._dbs, schema.M_SCHEMA_VERSION, 99)
    s.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        open_store(path)


def test_request_headers_leave_ids_to_the_caller(apply):
    h = apply.put(b"k", b"v").header
    assert (h.cluster_id, h.member_id, h.raft_term) == (0, 0, 0)


def test_uncommitted_writes_invisible_to_other_read_txns(store):
    with store.batch(1) as b:
        b.put(PutRequest(b"k", b"v"))
        assert rng(store, b"k").kvs == ()          # a separate read transaction
        assert store.current_revision() == 1
    assert rng(store, b"k").kvs[0].value == b"v"
