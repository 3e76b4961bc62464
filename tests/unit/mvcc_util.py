"""Helpers shared by the test_mvcc_* modules: a fresh store per test, short request builders."""
from __future__ import annotations

import pytest

from petcd.common.kv import (
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
)
from petcd.stages.apply.mvcc import MvccStore

MAP_SIZE = 64 << 20


def open_store(path: str, **kw) -> MvccStore:
    """A store for tests: no fsync per batch (durability across power loss is not under test;
    crashes are simulated by aborted batches and reopening)."""
    kw.setdefault("sync", False)
    return MvccStore.open(path, MAP_SIZE, **kw)


@pytest.fixture
def store(tmp_path):
    s = open_store(str(tmp_path / "db"))
    yield s
    s.close()


class Applier:
    """Applies one request per batch with increasing raft indexes, like a trivial apply loop."""

    def __init__(self, store: MvccStore):
        self.store = store
        self.index = store.applied_index()

    def __call__(self, method: str, *args):
        self.index += 1
        with self.store.batch(self.index) as b:
            return getattr(b, method)(*args)

    def put(self, key: bytes, value: bytes = b"", **kw):
        return self("put", PutRequest(key, value, **kw))

    def delete(self, key: bytes, range_end: bytes = b"", **kw):
        return self("delete_range", DeleteRangeRequest(key, range_end, **kw))

    def txn(self, compare=(), success=(), failure=()):
        return self("txn", TxnRequest(tuple(compare), tuple(success), tuple(failure)))


@pytest.fixture
def apply(store):
    return Applier(store)


def rng(store, key: bytes, range_end: bytes = b"", **kw):
    return store.range(RangeRequest(key, range_end, **kw))


def keys(resp) -> list[bytes]:
    return [kv.key for kv in resp.kvs]


def op_put(key: bytes, value: bytes = b"", **kw) -> RequestOp:
    return RequestOp(request_put=PutRequest(key, value, **kw))


def op_range(key: bytes, range_end: bytes = b"", **kw) -> RequestOp:
    return RequestOp(request_range=RangeRequest(key, range_end, **kw))


def op_delete(key: bytes, range_end: bytes = b"", **kw) -> RequestOp:
    return RequestOp(request_delete_range=DeleteRangeRequest(key, range_end, **kw))


def op_txn(compare=(), success=(), failure=()) -> RequestOp:
    return RequestOp(request_txn=TxnRequest(tuple(compare), tuple(success), tuple(failure)))
