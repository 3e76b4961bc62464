"""A txn of ranges only is served by a reader, without the write path (etcd's isTxnReadonly)."""
import pytest

from petcd.common.kv import (
    Compare, CompareResult, CompareTarget, PutRequest, RangeRequest, RequestOp, TxnRequest,
)
from petcd.stages.apply.mvcc import MvccStore


def test_readonly_txn_on_the_reader_matches_the_writer(tmp_path):
    store = MvccStore.open(str(tmp_path))
    with store.batch(1) as b:
        b.put(PutRequest(b"a", b"1"))
    req = TxnRequest(
        compare=(Compare(CompareResult.EQUAL, CompareTarget.VALUE, b"a", value=b"1"),),
        success=(RequestOp(request_range=RangeRequest(b"a")),),
        failure=(RequestOp(request_range=RangeRequest(b"b")),))
    got = store.txn_readonly(req)
    with store.batch(2) as b:
        want = b.txn(req)
    assert got == want and got.succeeded and got.responses[0].response_range.kvs[0].value == b"1"
    assert store.current_revision() == 2  # neither bumped the revision


def test_a_txn_that_writes_is_refused_by_the_reader(tmp_path):
    store = MvccStore.open(str(tmp_path))
    with pytest.raises(ValueError):
        store.txn_readonly(TxnRequest(success=(RequestOp(request_put=PutRequest(b"a")),)))
