"""Defragmentation (stages/apply/defrag.py): the store moves to a compacted copy of itself in
the next generation's directory, with every row, the applied index and the hash unchanged."""
from __future__ import annotations

import os

from petcd.common.kv import CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest
from petcd.common.layout import db_dir, db_generation
import zmq

from petcd.common.pipeline import ApplyBatch, InternalRequest
from petcd.common.types import Entry
from petcd.common import codec
from petcd.stages.apply import defrag, schema
from petcd.stages.apply.applier import Applier
from petcd.stages.apply.mvcc import MvccStore
from petcd.stages.apply.reader import MvccReader


def _defragment(store: MvccStore, d: str, during=lambda: None) -> int:
    """Copy on the thread; `during()` runs batches meanwhile, as the apply stage does."""
    zctx = zmq.Context()
    try:
        copy = defrag.BackgroundCopy(store, d, zctx)
        copy.record(during() or [])
        generation = copy.finish(lambda new, batches: Applier(new).apply(batches))
        copy.removing.join()
        return generation
    finally:
        zctx.term()


def _put_batch(index: int, key: bytes, value: bytes) -> ApplyBatch:
    data = codec.encode(InternalRequest(index, 0, PutRequest(key=key, value=value)))
    return ApplyBatch(entries=(Entry(term=1, index=index, data=data),), term=1)


def _store(data_dir: str) -> MvccStore:
    defrag.adopt(data_dir)
    return MvccStore.open(db_dir(data_dir), 1 << 30)


def _fill(store: MvccStore, n: int, value_bytes: int, index: int) -> int:
    for i in range(n):
        index += 1
        with store.batch(index) as b:
            b.put(PutRequest(key=b"k%05d" % i, value=b"x" * value_bytes))
    return index


def test_a_plain_db_dir_is_adopted_as_generation_zero(tmp_path):
    d = str(tmp_path)
    os.makedirs(db_dir(d))
    MvccStore.open(db_dir(d), 1 << 30).close()  # a store written before generations
    assert defrag.adopt(d) == 0
    assert os.readlink(db_dir(d)) == "db.0" and db_generation(d) == 0
    assert MvccStore.open(db_dir(d), 1 << 30).current_revision() == 1


def test_defragment_shrinks_the_file_and_keeps_everything(tmp_path):
    d = str(tmp_path)
    store = _store(d)
    # values over a page (overflow pages)
    index = _fill(store, 400, 6000, 0)
    index += 1
    with store.batch(index) as b:
        b.delete_range(DeleteRangeRequest(key=b"k00100", range_end=b"k00400"))
    index += 1
    with store.batch(index) as b:
        b.compact(CompactionRequest(revision=store.current_revision(), physical=True))
    while store.compaction_pending:
        store.compact_step()
    before = (store.hash_kv(0), store.applied_index(), store.current_revision())
    size = store.size_bytes()
    assert _defragment(store, d) == 1
    assert os.readlink(db_dir(d)) == "db.1" and not os.path.exists(os.path.join(d, "member",
                                                                                "db.0"))
    assert (store.hash_kv(0), store.applied_index(), store.current_revision()) == before
    assert store.size_bytes() < size / 2
    # the writer goes on in the new file, which is what member/db opens now
    _fill(store, 1, 10, index)
    rev = store.current_revision()
    store.close()
    reader = MvccReader.open(db_dir(d))  # (py-lmdb: one env per path per process)
    assert reader.current_revision() == rev
    reader.reopen()
    assert reader.current_revision() == rev
    reader.close()


def test_a_partial_copy_is_removed_at_start(tmp_path):
    d = str(tmp_path)
    _store(d).close()
    partial = os.path.join(d, "member", "db.1")
    os.makedirs(partial)
    open(os.path.join(partial, "data.mdb"), "wb").close()
    assert defrag.adopt(d) == 0 and not os.path.exists(partial)


def test_a_copy_of_a_compacted_hot_key_does_not_crash(tmp_path):
    # LMDB 0.9.36's compacting copy (MDB_CP_COMPACT) segfaults on this store: a key with a
    # thousand revisions, compacted. Snapshots (api, transport) and defragmentation must not
    # use it.
    d = str(tmp_path)
    store = _store(d)
    index = 0
    for _ in range(1000):
        index += 1
        with store.batch(index) as b:
            b.put(PutRequest(key=b"hot", value=b"v" * 64))
    index += 1
    with store.batch(index) as b:
        b.compact(CompactionRequest(revision=store.current_revision(), physical=True))
    while store.compaction_pending:
        store.compact_step()
    path = tmp_path / "copy.mdb"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        schema.copy_to_fd(store._env, fd)
    finally:
        os.close(fd)
    assert os.path.getsize(path) % 4096 == 0
    before = store.hash_kv(0)
    _defragment(store, d)
    assert store.hash_kv(0) == before


def test_batches_applied_during_the_copy_are_replayed_on_it(tmp_path):
    d = str(tmp_path)
    store = _store(d)
    index = _fill(store, 100, 3000, 0)
    applier = Applier(store)

    def during():
        batches = [_put_batch(index + i, b"during%d" % i, b"v%d" % i) for i in range(1, 51)]
        applier.apply(batches)  # the writer goes on while the thread copies
        return batches
    _defragment(store, d, during)
    assert store.applied_index() == index + 50
    got = store.range(RangeRequest(key=b"during", range_end=b"durinh"))
    assert len(got.kvs) == 50 and got.kvs[0].value == b"v1"
    assert store.current_revision() == 1 + 100 + 50
