"""Membership changes as apply records them: the member table, removed ids, the answer."""
from petcd.common import codec
from petcd.common.membership import MemberChangeContext, MemberChangeKind as K
from petcd.common.pipeline import ApplyBatch, MemberInfo
from petcd.common.types import ConfChange, ConfChangeType as CC, Entry, EntryType
from petcd.stages.apply.applier import Applier
from petcd.stages.apply.mvcc import MvccStore

ME, OTHER = 7, 8
A = MemberInfo(1, "a", ("http://a:1",), ("http://a:2",))


def conf(index: int, type_, node: int, context) -> Entry:
    return Entry(1, index, EntryType.CONF_CHANGE,
                 ConfChange(type_, node, codec.encode(context)).encode())


def change(index, type_, kind, member, rid=5, origin=ME) -> Entry:
    return conf(index, type_, member.id, MemberChangeContext(kind, member, rid, origin))


def applied(tmp_path, *entries):
    applier = Applier(MvccStore.open(str(tmp_path)), ME)
    results = applier.apply([ApplyBatch(tuple(entries), 1)])
    return applier, results


def test_bootstrap_entries_record_the_initial_members(tmp_path):
    applier, results = applied(tmp_path, conf(1, CC.ADD_NODE, 1, A))
    assert results == []
    assert applier.store.members() == [A]
    assert applier.take_membership().members == (A,)
    assert applier.take_membership() is None  # nothing changed since


def test_add_then_promote_then_update_then_remove(tmp_path):
    new = MemberInfo(9, "", ("http://n:1",), is_learner=True)
    applier, results = applied(
        tmp_path, conf(1, CC.ADD_NODE, 1, A),
        change(2, CC.ADD_LEARNER_NODE, K.ADD, new, rid=11))
    assert [r.request_id for r in results] == [11] and results[0].error_code == 0
    assert applier.store.members()[1] == new
    applier.apply([ApplyBatch((change(3, CC.ADD_NODE, K.PROMOTE, MemberInfo(9, "", ())),), 1)])
    assert not applier.store.members()[1].is_learner
    moved = MemberInfo(9, "", ("http://n:2",))
    applier.apply([ApplyBatch((change(4, CC.UPDATE_NODE, K.UPDATE, moved),), 1)])
    assert applier.store.members()[1].peer_urls == ("http://n:2",)
    applier.apply([ApplyBatch((change(5, CC.REMOVE_NODE, K.REMOVE, MemberInfo(9, "", ())),), 1)])
    m = applier.take_membership()
    assert m.members == (A,) and m.removed == (9,)


def test_only_the_asking_member_is_answered(tmp_path):
    new = MemberInfo(9, "", ("http://n:1",))
    applier, results = applied(tmp_path, change(1, CC.ADD_NODE, K.ADD, new, origin=OTHER))
    assert results == []
    assert applier.store.members() == [new]


def test_an_update_keeps_the_published_name_and_client_urls(tmp_path):
    applier, _ = applied(tmp_path, conf(1, CC.ADD_NODE, 1, A),
                         change(2, CC.UPDATE_NODE, K.UPDATE, MemberInfo(1, "", ("http://a:9",))))
    assert applier.store.members() == [MemberInfo(1, "a", ("http://a:9",), ("http://a:2",))]


def test_removed_ids_are_kept_apart_from_members_whose_id_starts_with_r(tmp_path):
    r_id = int.from_bytes(b"r" + bytes(7), "big")  # the same first byte as a removed-id key
    odd = MemberInfo(r_id, "r", ("http://r:1",))
    applier, _ = applied(tmp_path, conf(1, CC.ADD_NODE, r_id, odd),
                         conf(2, CC.ADD_NODE, 1, A),
                         change(3, CC.REMOVE_NODE, K.REMOVE, MemberInfo(1, "", ())))
    assert applier.store.membership() == ([odd], [1])
