"""The leader's checks of membership changes, in etcd 3.4's order and with its errors."""
from petcd.common import codec, errors as E
from petcd.common.membership import (
    MemberChangeAsk, MemberChangeContext, MemberChangeKind as K, Membership, PeerActivity,
)
from petcd.common.pipeline import MemberInfo
from petcd.common.types import ConfChangeType as CC
from petcd.stages.raft.reconfig import Reconfig

ME = 1
HEALTH_S = 5.0


def member(i, name="m", learner=False):
    return MemberInfo(i, name if name else "", (f"http://h:{i}",), (), learner)


def gate(*members, active=(), removed=(), since=0.0, **kw) -> Reconfig:
    g = Reconfig(ME, health_interval_s=HEALTH_S, **kw)
    g.on_membership(Membership(tuple(members), tuple(removed)))
    for i in active:
        g.on_activity(PeerActivity(i, True), since)
    return g


def ask(kind, m):
    return MemberChangeAsk(origin=ME, worker=1, request_id=7, kind=kind, member=m)


THREE = (member(1), member(2), member(3))
NOW = 100.0


def check(g, kind, m, matches=None):
    return g.check(ask(kind, m), matches or {}, NOW)


def test_add_a_learner_to_a_healthy_cluster():
    g = gate(*THREE, active=(2, 3))
    assert check(g, K.ADD, MemberInfo(9, "", ("http://new:1",), (), True)) is None


def test_add_is_refused_until_every_voter_was_connected_for_the_health_interval():
    g = gate(*THREE, active=(2, 3), since=NOW - 1)
    assert check(g, K.ADD, MemberInfo(9, "", ("http://new:1",))) == E.ErrUnhealthy
    g = gate(*THREE, active=(2,))
    assert check(g, K.ADD, MemberInfo(9, "", ("http://new:1",), (), True)) == E.ErrUnhealthy


def test_a_lone_member_may_add_a_voter_but_not_a_second_unstarted_one():
    g = gate(member(1))
    assert check(g, K.ADD, MemberInfo(9, "", ("http://new:1",))) is None
    g = gate(member(1), member(9, name=""))
    assert check(g, K.ADD, MemberInfo(10, "", ("http://new:2",))) == E.ErrMemberNotEnoughStarted


def test_the_table_checks_in_etcds_order():
    g = gate(*THREE, active=(2, 3), removed=(8,))
    assert check(g, K.ADD, MemberInfo(8, "", ("http://h:1",))) == E.ErrMemberNotFound
    assert check(g, K.ADD, MemberInfo(2, "", ("http://h:1",))) == E.ErrMemberExist
    assert check(g, K.ADD, MemberInfo(9, "", ("http://h:1",))) == E.ErrPeerURLExist
    g = gate(*THREE, member(4, name="", learner=True), active=(2, 3))
    assert check(g, K.ADD, MemberInfo(9, "", ("http://x:1",), (), True)) == E.ErrTooManyLearners
    g = gate(*THREE, member(4, name="", learner=True), active=(2, 3), max_learners=2)
    assert check(g, K.ADD, MemberInfo(9, "", ("http://x:1",), (), True)) is None


def test_remove():
    g = gate(*THREE, active=(2, 3))
    assert check(g, K.REMOVE, MemberInfo(2, "", ())) is None
    assert check(g, K.REMOVE, MemberInfo(42, "", ())) == E.ErrMemberNotFound
    # The only member cannot remove itself: no started member would be left.
    assert check(gate(member(1)), K.REMOVE, MemberInfo(1, "", ())) == E.ErrMemberNotEnoughStarted


def test_removing_an_active_voter_must_leave_an_active_quorum():
    # 3 voters, 3 is down: removing 2 (up) would leave 1 of the 2 that remain active.
    g = gate(*THREE, active=(2,))
    assert check(g, K.REMOVE, MemberInfo(2, "", ())) == E.ErrUnhealthy
    assert check(g, K.REMOVE, MemberInfo(3, "", ())) is None  # a down member goes freely


def test_removing_needs_a_started_quorum_of_the_rest():
    g = gate(member(1), member(2), member(3, name=""), member(4, name=""), active=(2, 3, 4))
    assert check(g, K.REMOVE, MemberInfo(2, "", ())) == E.ErrMemberNotEnoughStarted
    assert check(g, K.REMOVE, MemberInfo(4, "", ())) is None  # leaves 2 of 3 started


def test_learners_are_removed_without_the_strict_checks():
    g = gate(member(1), member(2, name=""), member(9, learner=True))
    assert check(g, K.REMOVE, MemberInfo(9, "", ())) is None


def test_update():
    g = gate(*THREE)
    assert check(g, K.UPDATE, MemberInfo(2, "", ("http://h:2", "http://h:22"))) is None
    assert check(g, K.UPDATE, MemberInfo(2, "", ("http://h:3",))) == E.ErrPeerURLExist
    assert check(g, K.UPDATE, MemberInfo(42, "", ("http://h:42",))) == E.ErrMemberNotFound


def test_promote():
    g = gate(*THREE, member(9, learner=True))
    learner = MemberInfo(9, "", ())
    assert check(g, K.PROMOTE, learner, {1: 100, 9: 89}) == E.ErrLearnerNotReady
    assert check(g, K.PROMOTE, learner, {1: 100, 9: 90}) is None
    assert check(g, K.PROMOTE, MemberInfo(2, "", ()), {1: 100, 2: 100}) == E.ErrMemberNotLearner
    assert check(g, K.PROMOTE, MemberInfo(42, "", ()), {1: 100}) == E.ErrMemberNotFound


def test_promote_needs_a_started_quorum_counting_the_learner():
    g = gate(member(1), member(2, name=""), member(3, name=""), member(9, learner=True))
    assert check(g, K.PROMOTE, MemberInfo(9, "", ()), {1: 5, 9: 5}) == E.ErrMemberNotEnoughStarted
    g = gate(member(1), member(2, name=""), member(9, learner=True))
    assert check(g, K.PROMOTE, MemberInfo(9, "", ()), {1: 5, 9: 5}) is None  # 2 of 3
    # A lone member: promoting itself is refused for what it is, not for the quorum.
    assert check(gate(member(1)), K.PROMOTE, MemberInfo(1, "", ()), {1: 5}) == \
        E.ErrMemberNotLearner


def test_without_strict_checks_only_the_table_counts():
    g = gate(*THREE, strict=False)
    assert check(g, K.ADD, MemberInfo(9, "", ("http://new:1",))) is None
    assert check(g, K.REMOVE, MemberInfo(2, "", ())) is None


def test_conf_changes():
    g = gate(*THREE)
    cases = [(K.ADD, MemberInfo(9, "", ("u",), (), True), CC.ADD_LEARNER_NODE),
             (K.ADD, MemberInfo(9, "", ("u",)), CC.ADD_NODE),
             (K.PROMOTE, MemberInfo(9, "", ()), CC.ADD_NODE),
             (K.REMOVE, MemberInfo(9, "", ()), CC.REMOVE_NODE),
             (K.UPDATE, MemberInfo(9, "", ("v",)), CC.UPDATE_NODE)]
    for kind, m, want in cases:
        cc = g.conf_change(ask(kind, m))
        assert (cc.type, cc.node_id) == (want, 9)
        assert codec.decode(cc.context) == MemberChangeContext(kind, m, 7, ME)
