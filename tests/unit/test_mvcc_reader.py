"""MvccReader in another process (multiprocessing spawn) sees exactly the committed batches."""
import multiprocessing as mp

import pytest

from petcd.common.errors import EtcdError
from petcd.common.kv import CompactionRequest, PutRequest, RangeRequest
from petcd.stages.apply.mvcc import MvccStore
from petcd.stages.apply.reader import MvccReader


def reader_main(path: str, requests, replies) -> None:
    """Child process: answer (method, args) requests from an MvccReader until None."""
    try:
        reader = MvccReader.open(path)
    except Exception as e:          # report instead of leaving the parent waiting
        replies.put(repr(e))
        return
    replies.put("ready")
    while (msg := requests.get()) is not None:
        method, args = msg
        try:
            replies.put(("ok", getattr(reader, method)(*args)))
        except EtcdError as e:
            replies.put(("err", int(e.code), e.message))
    reader.close()


@pytest.fixture
def child(tmp_path):
    path = str(tmp_path / "db")
    store = MvccStore.open(path, 16 << 20)
    with store.batch(1) as b:
        b.put(PutRequest(b"a", b"1"))
    ctx = mp.get_context("spawn")
    requests, replies = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=reader_main, args=(path, requests, replies), daemon=True)
    proc.start()
    assert replies.get(timeout=30) == "ready"

    class Child:
        def ask(self, method, *args):
            requests.put((method, args))
            return replies.get(timeout=30)

    c = Child()
    c.store, c.path = store, path
    yield c
    requests.put(None)
    proc.join(10)
    c.store.close()


def test_reader_process_sees_committed_batches_only(child):
    store, ask = child.store, child.ask
    status, resp = ask("range", RangeRequest(b"a"))
    assert status == "ok" and resp.kvs[0].value == b"1" and resp.header.revision == 2
    with store.batch(2) as b:
        b.put(PutRequest(b"a", b"2"))
        b.put(PutRequest(b"b", b"x"))
        # Not committed yet: the other process still reads the last committed batch.
        assert ask("range", RangeRequest(b"\0", b"\0"))[1].count == 1
        assert ask("applied_index") == ("ok", 1)
    resp = ask("range", RangeRequest(b"\0", b"\0"))[1]
    assert [kv.value for kv in resp.kvs] == [b"2", b"x"] and resp.header.revision == 4
    assert ask("applied_index") == ("ok", 2)
    assert ask("current_revision") == ("ok", 4)
    assert ask("range", RangeRequest(b"a", revision=2))[1].kvs[0].value == b"1"
    assert ask("range", RangeRequest(b"a", revision=5)) == (
        "err", 11, "etcdserver: mvcc: required revision is a future revision")
    with store.batch(3) as b:
        b.compact(CompactionRequest(3))
    assert ask("range", RangeRequest(b"a", revision=2))[0] == "err"
    assert ask("hash_kv", 0) == ("ok", store.hash_kv(0))
    assert ask("events", 3, 0, True)[1] == store.events(3, 0, True)


def test_reader_follows_a_map_grown_by_the_writer(child):
    child.store.close()
    grown = child.store = MvccStore.open(child.path, 128 << 20)   # restart, larger map
    big = b"x" * (1 << 20)
    with grown.batch(2) as b:
        for i in range(20):                        # ~40 MiB: beyond the reader's 16 MiB map
            b.put(PutRequest(b"big%02d" % i, big))
    status, resp = child.ask("range", RangeRequest(b"big19"))
    assert status == "ok" and len(resp.kvs[0].value) == len(big)


def test_reader_refuses_an_uninitialised_path(tmp_path):
    with pytest.raises(Exception):
        MvccReader.open(str(tmp_path / "nothing"))
