"""Space quota and the NOSPACE cap: what is refused, what still works, sizes."""
import pytest

from petcd.common.errors import ErrNoSpace, EtcdError
from petcd.common.kv import (
    CompactionRequest, PutRequest, RangeRequest, TxnRequest,
)
from petcd.stages.apply.alarm_store import AlarmType
from petcd.stages.apply.quota import (
    DEFAULT_QUOTA_BYTES, KV_OVERHEAD, Quota, put_cost, request_cost, txn_cost,
)
from tests.unit.mvcc_util import Applier, op_delete, op_put, op_range, op_txn, open_store

MEMBER = 0x1234


def nospace(fn, *args):
    with pytest.raises(EtcdError) as ei:
        fn(*args)
    return ei.value == ErrNoSpace and ei.value.http_status == 429


def test_costs():
    assert put_cost(PutRequest(b"k", b"vv")) == KV_OVERHEAD + 3 + 4
    assert put_cost(PutRequest(b"k", b"", lease=300)) == KV_OVERHEAD + 3 + 3
    small, big = op_put(b"a", b"1"), op_put(b"b", b"x" * 100)
    assert txn_cost(TxnRequest(success=(small,), failure=(big, small))) == \
        request_cost(big.request_put) + request_cost(small.request_put)
    assert txn_cost(TxnRequest(success=(op_range(b"a"), op_delete(b"b")))) == 0
    # Puts inside nested txns count (etcd 3.4 ignores them; see quota.py).
    assert txn_cost(TxnRequest(success=(op_txn(success=[big]),))) == \
        request_cost(big.request_put)
    assert request_cost(RangeRequest(b"a")) == 0


def test_quota_limits():
    assert Quota(0).limit_bytes == DEFAULT_QUOTA_BYTES
    assert Quota(-1).available(1 << 60, 1)
    q = Quota(1000)
    assert q.available(900, 99) and not q.available(900, 100)


def test_nospace_alarm_caps_writes_but_not_reads_deletes_compaction(tmp_path):
    path = str(tmp_path / "db")
    s = open_store(path, quota_backend_bytes=256 * 1024)
    apply = Applier(s)
    i = 0
    # Fill until the quota check fails, as the api stage would see it before proposing.
    while s.quota_available(PutRequest(b"k%04d" % i, b"v" * 1000)):
        apply.put(b"k%04d" % i, b"v" * 1000)
        i += 1
    assert i > 10 and s.size_bytes() >= 200 * 1024
    assert 0 < s.size_in_use_bytes() <= s.size_bytes()
    # The alarm goes through raft; from that entry on every member caps writes.
    assert apply("alarm_activate", MEMBER, AlarmType.NOSPACE) is True
    assert s.nospace and s.alarms() == [(MEMBER, AlarmType.NOSPACE)]
    rev = s.current_revision()
    assert nospace(apply.put, b"new", b"x")
    assert nospace(apply.txn, (), [op_put(b"new", b"x")])
    assert nospace(apply.txn, (), [op_range(b"a")], [op_put(b"new", b"x")])  # either branch
    assert nospace(apply.txn, (), [op_txn(success=[op_put(b"new", b"x")])])
    assert nospace(apply, "lease_grant", 1, 10)
    assert s.current_revision() == rev
    # Still working: range, txn without puts, delete, compact, lease revoke.
    assert s.range(RangeRequest(b"k0000")).count == 1
    assert apply.txn((), [op_range(b"k0000"), op_delete(b"k0000")]).header.revision == rev + 1
    assert apply.delete(b"k0001", b"k0005").deleted == 4
    apply("compact", CompactionRequest(rev + 2))
    s.run_compaction()
    s.close()
    # The alarm is state: it survives a restart.
    s = open_store(path, quota_backend_bytes=256 * 1024)
    apply = Applier(s)
    assert s.nospace and nospace(apply.put, b"new", b"x")
    assert apply("alarm_deactivate", MEMBER, AlarmType.NOSPACE) is True
    assert not s.nospace and apply.put(b"new", b"x").header.revision == rev + 3
    s.close()


def test_alarm_in_a_batch_caps_later_entries_of_the_same_batch(tmp_path):
    s = open_store(str(tmp_path / "db"))
    with s.batch(1) as b:
        b.put(PutRequest(b"a", b"1"))
        b.alarm_activate(MEMBER, AlarmType.NOSPACE)
        assert nospace(b.put, PutRequest(b"b", b"1"))
        b.alarm_activate(MEMBER + 1, AlarmType.NOSPACE)
        b.alarm_deactivate(MEMBER, AlarmType.NOSPACE)
        assert nospace(b.put, PutRequest(b"b", b"1"))    # another member's alarm is active
        b.alarm_deactivate(MEMBER + 1, AlarmType.NOSPACE)
        b.put(PutRequest(b"b", b"1"))
    assert not s.nospace and s.current_revision() == 3
    s.close()


def test_aborted_alarm_does_not_stick(tmp_path):
    s = open_store(str(tmp_path / "db"))
    with pytest.raises(RuntimeError):
        with s.batch(1) as b:
            b.alarm_activate(MEMBER, AlarmType.NOSPACE)
            raise RuntimeError("crash")
    assert not s.nospace and s.alarms() == []
    s.close()
