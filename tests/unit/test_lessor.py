"""The lessor (stages/raft/lessor.py): expiry on the leader only, renewals, the revoke rate
limit, checkpoints, and what a new leader does with them."""
from petcd.common.lease import LeaseChanges
from petcd.stages.raft.lessor import REVOKE_RETRY_S, Lessor


def lessor(rate=1000.0, interval=0.0) -> Lessor:
    return Lessor(revoke_rate_per_s=rate, checkpoint_interval_s=interval)


def grant(le: Lessor, now: float, *leases) -> None:
    le.apply_changes(LeaseChanges(granted=tuple((i, ttl, 0) for i, ttl in leases)), now)


def test_only_the_leader_expires_leases():
    le = lessor()
    grant(le, 0.0, (1, 5))
    assert le.expired(100.0) == []
    le.promote(100.0, extend_s=1.0)
    assert le.expired(105.9) == []           # TTL plus the election extension
    assert le.expired(106.0) == [1]
    le.demote()
    assert le.expired(1000.0) == []


def test_renewal_pushes_expiry_and_answers_ttl():
    le = lessor()
    le.promote(0.0, extend_s=0.0)
    grant(le, 0.0, (1, 10))
    assert le.renew(1, 8.0) == (10, 10)
    assert le.expired(17.9) == []
    assert le.time_to_live(1, 10.5) == (7, 10)   # truncated, as etcd
    assert le.expired(18.0) == [1]
    assert le.renew(1, 18.1) == (-1, 0)           # being revoked: dead to keep-alives
    assert le.renew(99, 0.0) == (-1, 0) and le.time_to_live(99, 0.0) == (-1, 0)


def test_a_revoked_lease_is_forgotten_and_an_unlanded_revoke_is_retried():
    le = lessor()
    le.promote(0.0, extend_s=0.0)
    grant(le, 0.0, (1, 1), (2, 1))
    assert sorted(le.expired(1.0)) == [1, 2]
    le.apply_changes(LeaseChanges(revoked=(1,)), 1.1)
    assert le.expired(1.0 + REVOKE_RETRY_S - 0.1) == []
    assert le.expired(1.0 + REVOKE_RETRY_S) == [2]    # its revoke never applied
    assert 1 not in le.leases


def test_revokes_are_rate_limited():
    le = lessor(rate=10.0)
    le.promote(0.0, extend_s=0.0)
    grant(le, 0.0, *((i, 1) for i in range(1, 101)))
    first = le.expired(1.0)
    assert len(first) == 10                       # one second's budget at most
    assert le.expired(1.0) == []
    assert len(le.expired(1.5)) == 5
    assert len(set(first)) == 10


def test_checkpoints_carry_remaining_ttl_to_the_next_leader():
    old = lessor(interval=5.0)
    old.promote(0.0, extend_s=0.0)
    grant(old, 0.0, (1, 60))
    assert old.checkpoints(4.0) == []
    batches = old.checkpoints(20.0)
    assert batches == [((1, 40),)]
    # Every member applies the checkpoint; a new leader starts the lease from it.
    new = lessor(interval=5.0)
    grant(new, 0.0, (1, 60))
    new.apply_changes(LeaseChanges(granted=((1, 60, 40),)), 21.0)
    new.promote(30.0, extend_s=1.0)
    assert new.time_to_live(1, 30.0) == (41, 60)     # not reset to 60
    assert new.expired(70.9) == [] and new.expired(71.0) == [1]


def test_a_renewal_after_a_checkpoint_proposes_a_reset():
    le = lessor(interval=5.0)
    le.promote(0.0, extend_s=0.0)
    grant(le, 0.0, (1, 60))
    le.apply_changes(LeaseChanges(granted=((1, 60, 40),)), 20.0)
    le.renew(1, 21.0)
    assert le.checkpoints(21.0) == [((1, 0),)]
    assert le.checkpoints(21.1) == []
    le.renew(1, 22.0)                              # no checkpoint since: nothing to reset
    assert le.checkpoints(22.0) == []


def test_reset_replaces_every_lease():
    le = lessor()
    grant(le, 0.0, (1, 5), (2, 5))
    le.apply_changes(LeaseChanges(granted=((3, 7, 0),), reset=True), 0.0)
    assert set(le.leases) == {3}
