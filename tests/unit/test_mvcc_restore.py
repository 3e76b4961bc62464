"""MvccStore.restore_from: a follower replaces its whole store with a leader's copy."""
import os

import pytest

from petcd.common.kv import CompactionRequest, PutRequest, RangeRequest
from tests.unit.mvcc_util import Applier, open_store


def _copy(store, path) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        store._env.copyfd(fd, compact=True)
    finally:
        os.close(fd)
    return str(path)


def _leader(tmp_path):
    leader = open_store(str(tmp_path / "leader"))
    apply = Applier(leader)
    with leader.batch(apply.index + 1) as b:
        b.lease_grant(7, 60)
    apply.index += 1
    for i in range(50):
        apply.put(b"k%02d" % (i % 10), b"v%d" % i)
    apply.put(b"leased", b"x", lease=7)
    apply.delete(b"k03")
    apply("compact", CompactionRequest(20))
    leader.run_compaction()
    for i in range(5):
        apply.put(b"late%d" % i, b"y" * 3000)     # values on overflow pages too
    return leader


def test_restore_makes_the_follower_equal_to_the_leader(tmp_path):
    leader = _leader(tmp_path)
    follower = open_store(str(tmp_path / "follower"))
    apply = Applier(follower)
    for i in range(30):
        apply.put(b"stale%d" % i, b"old")
    assert follower.range(RangeRequest(b"stale0")).count == 1

    index = follower.restore_from(_copy(leader, tmp_path / "snap.db"))

    assert index == leader.applied_index() == follower.applied_index()
    assert follower.current_revision() == leader.current_revision()
    assert follower.compact_revision() == leader.compact_revision() == 20
    assert follower.hash() == leader.hash()
    assert follower.hash_kv() == leader.hash_kv()
    assert follower.range(RangeRequest(b"stale0")).count == 0
    assert follower.range(RangeRequest(b"k05")).kvs == leader.range(RangeRequest(b"k05")).kvs
    # And the follower goes on applying after the leader's applied index.
    with follower.batch(index + 1) as b:
        b.put(PutRequest(b"after", b"1"))
    assert follower.current_revision() == leader.current_revision() + 1
    follower.close()
    leader.close()


def test_a_bad_file_leaves_the_store_as_it_was(tmp_path):
    follower = open_store(str(tmp_path / "follower"))
    Applier(follower).put(b"mine", b"1")
    before = follower.hash_kv()
    bad = tmp_path / "bad.snap.db"
    bad.write_bytes(b"\0" * 8192)
    with pytest.raises(Exception):
        follower.restore_from(str(bad))
    assert follower.hash_kv() == before and follower.applied_index() == 1
    follower.close()
