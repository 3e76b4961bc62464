"""apply's answered counter (stages/apply/answered.py) and the read barrier it gives
MvccReader: a read in another process never misses a batch that apply has answered."""
import multiprocessing as mp
import time

from petcd.common.errors import ErrTimeout, EtcdError
from petcd.common.kv import PutRequest, RangeRequest
from petcd.stages.apply.answered import AnsweredIndex
from petcd.stages.apply.mvcc import MvccStore
from petcd.stages.apply.reader import MvccReader


def test_the_counter_is_shared_and_only_grows(tmp_path):
    assert AnsweredIndex.open_reader(str(tmp_path)) is None
    writer = AnsweredIndex.create(str(tmp_path), 7)
    reader = AnsweredIndex.open_reader(str(tmp_path))
    assert reader.value() == 7
    writer.publish(9)
    assert reader.value() == 9
    writer.publish(8)  # a lower index never moves it back
    assert reader.value() == 9
    AnsweredIndex.create(str(tmp_path), 3)  # apply starting again on its store
    assert reader.value() == 3


def _reader_main(path, run_dir, wait_s, replies) -> None:
    reader = MvccReader.open(path, answered=AnsweredIndex.open_reader(run_dir))
    reader.VISIBLE_WAIT_S = wait_s
    replies.put("ready")
    t0 = time.monotonic()
    try:
        kvs = reader.range(RangeRequest(key=b"a")).kvs
        replies.put(("ok", [kv.value for kv in kvs], time.monotonic() - t0))
    except EtcdError as e:
        replies.put(("err", e.message, time.monotonic() - t0))
    reader.close()


def _start_reader(tmp_path, wait_s):
    ctx = mp.get_context("spawn")
    replies = ctx.Queue()
    proc = ctx.Process(target=_reader_main, daemon=True,
                       args=(str(tmp_path / "db"), str(tmp_path), wait_s, replies))
    proc.start()
    assert replies.get(timeout=30) == "ready"
    return proc, replies


def _store_at_1(tmp_path) -> MvccStore:
    """A store whose applied index is 1 (a = 1)."""
    store = MvccStore.open(str(tmp_path / "db"), 16 << 20)
    with store.batch(1) as b:
        b.put(PutRequest(b"a", b"1"))
    return store


def test_a_read_waits_for_the_commit_of_an_answered_batch(tmp_path):
    store = _store_at_1(tmp_path)
    answered = AnsweredIndex.create(str(tmp_path), 1)
    with store.batch(2) as b:
        b.put(PutRequest(b"a", b"2"))
        answered.publish(2)  # answered, not yet committed: the reader starts now
        proc, replies = _start_reader(tmp_path, wait_s=30)
        time.sleep(0.3)
        assert replies.empty()
    outcome, values, waited_s = replies.get(timeout=30)
    assert (outcome, values) == ("ok", [b"2"]) and waited_s >= 0.2
    proc.join(10)
    store.close()


def test_a_read_gives_up_with_etcds_timeout_if_the_commit_never_comes(tmp_path):
    store = _store_at_1(tmp_path)
    AnsweredIndex.create(str(tmp_path), 5)  # an apply that died after answering
    proc, replies = _start_reader(tmp_path, wait_s=0.2)
    assert replies.get(timeout=30)[:2] == ("err", ErrTimeout.message)
    proc.join(10)
    store.close()


def test_reads_behind_no_answer_do_not_wait(tmp_path):
    store = _store_at_1(tmp_path)
    AnsweredIndex.create(str(tmp_path), 1)
    proc, replies = _start_reader(tmp_path, wait_s=0.0)
    assert replies.get(timeout=30)[:2] == ("ok", [b"1"])
    proc.join(10)
    store.close()
