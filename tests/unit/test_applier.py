"""The apply stage's pure part: entries in, results out, exactly once."""
from petcd.common import codec
from petcd.common.kv import CompactionRequest, PutRequest
from petcd.common.pipeline import ApplyBatch, InternalRequest
from petcd.common.types import Entry
from petcd.stages.apply.applier import Applier
from petcd.stages.apply.mvcc import MvccStore


ME, OTHER = 7, 8


def entry(index: int, rid: int, op, origin: int = ME) -> Entry:
    return Entry(term=1, index=index, data=codec.encode(InternalRequest(rid, origin, op)))


def test_entries_at_or_below_the_applied_index_are_skipped(tmp_path):
    applier = Applier(MvccStore.open(str(tmp_path)), ME)
    batch = ApplyBatch((entry(1, 1, PutRequest(b"a", b"1")), entry(2, 2, PutRequest(b"b", b"1"))), 1)
    assert [r.request_id for r in applier.apply([batch])] == [1, 2]
    # Replayed after a restart: nothing applies twice.
    assert applier.apply([batch]) == []
    assert applier.store.current_revision() == 3


def test_a_physical_compaction_is_answered_once_done(tmp_path):
    applier = Applier(MvccStore.open(str(tmp_path)), ME)
    puts = [entry(i, i, PutRequest(b"k", b"%d" % i)) for i in range(1, 6)]
    applier.apply([ApplyBatch(tuple(puts), 1)])
    compact = entry(6, 99, CompactionRequest(revision=4, physical=True))
    assert applier.apply([ApplyBatch((compact,), 1)]) == []  # held
    assert applier.release_held() == []
    applier.store.run_compaction()
    (result,) = applier.release_held()
    assert result.request_id == 99 and result.error_code == 0


def test_only_the_origin_member_answers_but_every_member_applies(tmp_path):
    applier = Applier(MvccStore.open(str(tmp_path)), ME)
    batch = ApplyBatch((entry(1, 1, PutRequest(b"a", b"1"), origin=OTHER),
                        entry(2, 1, PutRequest(b"b", b"1"))), 1)
    (result,) = applier.apply([batch])
    assert result.response.header.revision == 3  # ours, after the other member's write
    assert applier.store.current_revision() == 3


def test_plain_writes_are_answered_before_the_commit_auth_changes_after(tmp_path):
    from petcd.common.auth import AuthRoleAddRequest
    store = MvccStore.open(str(tmp_path))
    applier = Applier(store, ME)
    seen = []

    def answer(index, results):
        seen.append((index, [r.request_id for r in results], store.applied_index()))

    puts = ApplyBatch((entry(1, 1, PutRequest(b"a", b"1")), entry(2, 2, PutRequest(b"b", b"1"))), 1)
    assert applier.apply([puts], answer) == []
    assert seen == [(2, [1, 2], 0)]  # before the commit: the store was still at 0
    assert store.applied_index() == 2
    role = ApplyBatch((entry(3, 3, AuthRoleAddRequest("r")),), 1)
    assert [r.request_id for r in applier.apply([role], answer)] == [3]  # after the commit
    assert len(seen) == 1
