"""The linearizability checker: good histories pass, known-bad ones fail with an explanation
a human can act on, a pathological one times out instead of hanging, and saved histories
re-check identically. Plus seeded simulations of a correct etcd (tests/unit/history_sim.py)."""
import time
from dataclasses import replace

from tests.robustness import model
from tests.robustness.history import (
    ERR_COMPACTED, ERR_FUTURE_REV, ERR_LEASE_NOT_FOUND, Compact, CompactResponse, Compare,
    Delete, DeleteResponse, ErrorResponse, Get, History, KeyValue, LeaseGrant,
    LeaseGrantResponse, LeaseRevoke, LeaseRevokeResponse, Operation, Put, PutResponse, Range,
    RangeResponse, Txn, TxnResponse, load, prefix_end, save,
)
from tests.robustness.linearizability import check
from tests.robustness.validate import validate
from tests.unit.history_sim import simulate

MS = 1_000_000


def op(client, call_ms, return_ms, request, response):
    """An operation; return_ms None means the outcome is unknown."""
    if return_ms is None:
        return Operation(client, int(call_ms * MS), None, request, None)
    return Operation(client, int(call_ms * MS), int(return_ms * MS), request, response)


def kv(key, value, mod, create, version):
    return KeyValue(key, value, mod, create, version)


def got(revision, *kvs):
    return RangeResponse(revision, tuple(kvs), len(kvs))


# --- good histories ---------------------------------------------------------------------------

def test_empty_and_sequential():
    assert check([]).ok is True
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        op(0, 2, 3, Get("k"), got(2, kv("k", "a", 2, 2, 1))),
        op(0, 4, 5, Put("k", "b"), PutResponse(3)),
        op(0, 6, 7, Delete("k"), DeleteResponse(4, 1)),
        op(0, 8, 9, Delete("k"), DeleteResponse(4, 0)),      # deleting nothing: no bump
        op(0, 10, 11, Get("k"), got(4)),
        op(0, 12, 13, Put("k", "c"), PutResponse(5)),
        op(0, 14, 15, Get("k"), got(5, kv("k", "c", 5, 5, 1))),   # a new generation
    ]
    r = check(h)
    assert r.ok is True, r.explanation
    assert r.linearization == tuple(range(len(h)))


def test_concurrent_puts_and_reads_in_any_valid_order():
    h = [
        # Called first but applied second: the search must reorder them.
        op(1, 0, 10, Put("k", "a"), PutResponse(3)),
        op(2, 1, 9, Put("k", "b"), PutResponse(2)),
        # Concurrent with both puts: may see the first of them only.
        op(3, 2, 8, Get("k"), got(2, kv("k", "b", 2, 2, 1))),
        op(4, 3, 12, Get("k"), got(3, kv("k", "a", 3, 2, 2))),
        op(5, 11, 13, Range("k", prefix_end("k")), got(3, kv("k", "a", 3, 2, 2))),
    ]
    r = check(h)
    assert r.ok is True, r.explanation
    assert r.linearization.index(1) < r.linearization.index(0)


def test_txn_compare_and_swap():
    cas = Txn((Compare("k", "MOD", "=", 2),), (Put("k", "b"),), (Get("k"),))
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        op(1, 2, 5, cas, TxnResponse(3, True, (PutResponse(3),))),
        op(2, 3, 6, cas, TxnResponse(3, False, (got(3, kv("k", "b", 3, 2, 2)),))),
        # A value compare against a missing key is false; a txn of reads keeps the revision.
        op(0, 7, 8, Txn((Compare("x", "VALUE", "=", ""),), (Put("x", "1"),), (Get("x"),)),
           TxnResponse(3, False, (got(3),))),
        op(0, 9, 10, Txn((Compare("x", "CREATE", "=", 0),), (Put("x", "1"),)),
           TxnResponse(4, True, (PutResponse(4),))),
    ]
    r = check(h)
    assert r.ok is True, r.explanation


def test_lease_revoke_deletes_attached_keys_in_one_revision():
    h = [
        op(0, 0, 1, LeaseGrant(7, 60), LeaseGrantResponse(1, 7)),
        op(0, 2, 3, Put("a", "1", 7), PutResponse(2)),
        op(0, 4, 5, Put("b", "1", 7), PutResponse(3)),
        op(0, 6, 7, Put("c", "1"), PutResponse(4)),
        op(0, 8, 9, Put("a", "2"), PutResponse(5)),          # detaches a from the lease
        op(0, 10, 11, LeaseRevoke(7), LeaseRevokeResponse(6)),
        op(0, 12, 13, Range("", "\0"), got(6, kv("a", "2", 5, 2, 2), kv("c", "1", 4, 4, 1))),
        op(0, 14, 15, LeaseRevoke(7), ErrorResponse(ERR_LEASE_NOT_FOUND)),
        op(0, 16, 17, Put("d", "1", 7), ErrorResponse(ERR_LEASE_NOT_FOUND)),
        # A server-chosen lease id (request 0) is taken from the response.
        op(0, 18, 19, LeaseGrant(0, 60), LeaseGrantResponse(6, 99)),
        op(0, 20, 21, LeaseRevoke(99), LeaseRevokeResponse(6)),   # no keys: no bump
    ]
    r = check(h)
    assert r.ok is True, r.explanation


def test_compaction_and_reads_of_compacted_revisions():
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        op(0, 2, 3, Put("k", "b"), PutResponse(3)),
        op(0, 4, 5, Put("k", "c"), PutResponse(4)),
        op(0, 6, 7, Compact(3), CompactResponse(4)),
        op(0, 8, 9, Get("k", revision=2), ErrorResponse(ERR_COMPACTED)),
        op(0, 10, 11, Get("k", revision=3), got(4, kv("k", "b", 3, 2, 2))),
        op(0, 12, 13, Compact(3), ErrorResponse(ERR_COMPACTED)),
        op(0, 14, 15, Compact(9), ErrorResponse(ERR_FUTURE_REV)),
        op(0, 16, 17, Get("k", revision=9), ErrorResponse(ERR_FUTURE_REV)),
    ]
    r = check(h)
    assert r.ok is True, r.explanation
    assert validate(History(tuple(h))).ok is True


def test_unknown_outcome_puts_that_did_and_did_not_happen():
    h = [
        op(0, 0, None, Put("x", "applied"), None),
        op(1, 1, None, Put("y", "lost"), None),
        op(2, 2, 3, Put("z", "1"), PutResponse(3)),      # revision 2 went to the timed-out put
        op(2, 4, 5, Range("", "\0"), got(3, kv("x", "applied", 2, 2, 1), kv("z", "1", 3, 3, 1))),
        # Taking effect long after its client gave up, seen by a later read.
        op(3, 6, None, Put("w", "late"), None),
        op(2, 7, 8, Put("z", "2"), PutResponse(4)),
        op(2, 9, 10, Put("z", "3"), PutResponse(6)),
        op(2, 11, 12, Get("w"), got(6, kv("w", "late", 5, 5, 1))),
        # Any error the model does not know is an unknown outcome too.
        op(4, 13, 14, Put("v", "maybe"), ErrorResponse("etcdserver: request timed out")),
    ]
    r = check(h)
    assert r.ok is True, r.explanation
    assert 1 not in r.linearization and 0 in r.linearization and 4 in r.linearization


# --- bad histories ----------------------------------------------------------------------------

def assert_fails(h, *words):
    r = check(h)
    assert r.ok is False
    for w in words:
        assert w in r.explanation, r.explanation
    return r


def test_stale_read_by_revision():
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        op(0, 2, 3, Put("k", "b"), PutResponse(3)),
        op(1, 4, 5, Get("k"), got(2, kv("k", "a", 2, 2, 1))),
    ]
    r = assert_fails(h, "revision went back", "op #2 client 1", "op #1 client 0", "4.000 ms")
    assert r.failed_op == 2


def test_stale_read_at_the_right_revision():
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        op(0, 2, 3, Put("k", "b"), PutResponse(3)),
        op(1, 4, 5, Get("k"), got(3, kv("k", "a", 2, 2, 1))),
    ]
    r = assert_fails(h, "not linearizable", "op that could not be linearized", "op #2 client 1",
                     "model state after it: revision 3", "k='b'", "model: RangeResponse")
    assert r.failed_op == 2 and r.linearization == (0, 1)


def test_lost_write():
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        op(0, 2, 3, Put("k", "b"), PutResponse(3)),       # acknowledged...
        op(1, 4, 5, Put("other", "x"), PutResponse(4)),
        op(2, 6, 7, Get("k"), got(4, kv("k", "a", 2, 2, 1))),   # ...and gone
    ]
    assert_fails(h, "not linearizable", "op #3 client 2").failed_op == 3


def test_revision_goes_backwards():
    h = [
        op(0, 0, 1, Put("a", "1"), PutResponse(2)),
        op(0, 2, 3, Put("a", "2"), PutResponse(3)),
        op(1, 4, 5, Put("b", "1"), PutResponse(2)),
    ]
    assert_fails(h, "revision went back", "wrote at revision 2")


def test_impossible_txn_compare_result():
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        # mod_revision of k is 2, yet the compare "failed" and showed k unchanged.
        op(0, 2, 3, Txn((Compare("k", "MOD", "=", 2),), (Put("k", "b"),), (Get("k"),)),
           TxnResponse(2, False, (got(2, kv("k", "a", 2, 2, 1)),))),
    ]
    r = assert_fails(h, "not linearizable", "succeeded=True")
    assert r.failed_op == 1


def test_duplicated_revision():
    h = [
        op(0, 0, 2, Put("a", "1"), PutResponse(2)),
        op(1, 1, 3, Put("b", "1"), PutResponse(2)),
    ]
    assert_fails(h, "revision 2 created twice")


def test_read_of_a_value_nobody_wrote():
    h = [
        op(0, 0, 1, Put("k", "a"), PutResponse(2)),
        op(1, 2, 3, Get("k"), got(2, kv("k", "zzz", 2, 2, 1))),
    ]
    assert_fails(h, "value nobody wrote", "'zzz'")


def test_wrong_revision_for_unknown_write_gap():
    # Revision 2 is nobody's: no unknown op could have made it, so the put at 3 cannot be.
    h = [op(0, 0, 1, Put("k", "a"), PutResponse(3))]
    assert_fails(h, "not linearizable")


def test_pathological_history_times_out_within_budget():
    # Twelve timed-out puts on distinct keys, any of which may fill any of the revisions 2..13
    # the acknowledged put skipped, and a read that no order explains: the search would try
    # every order. It must give up on time.
    n = 12
    h = [op(c, 0, None, Put(f"k{c}", f"v{c}"), None) for c in range(n)]
    h.append(op(n, 0, 100, Put("z", "z"), PutResponse(n + 2)))
    h.append(op(n, 101, 102, Get("nothing"), RangeResponse(n + 2, (), 3)))
    started = time.monotonic()
    r = check(h, timeout_s=0.5)
    assert r.ok is None and "timed out" in r.explanation
    assert time.monotonic() - started < 3


def test_save_load_round_trip(tmp_path):
    h = simulate(3, n_ops=200, unknown_rate=0.05)
    path = tmp_path / "history.json"
    save(h, path)
    again = load(path)
    assert again == h
    first, second = check(h), check(again)
    assert first.ok is second.ok is True
    assert first.linearization == second.linearization
    stale = op(9, 10_000, 10_001, Get("k0"), got(1, kv("k0", "?", 1, 1, 1)))
    bad = History(h.operations + (stale,))
    save(bad, path)
    assert check(load(path)).explanation == check(bad).explanation


# --- seeded simulations of a correct etcd ------------------------------------------------------

def test_model_agrees_with_the_reference_store_along_the_true_order():
    from tests.unit.history_sim import simulate_with_truth
    for seed in range(10):
        h, truth = simulate_with_truth(seed, n_ops=200, unknown_rate=0.1)
        state = model.initial_state()
        for i in truth:
            o = h.operations[i]
            if o.unknown:
                state = model.step_unknown(state, o.request)[-1]
                continue
            ok, state = model.step(state, o.request, o.response)
            assert ok, (seed, i, o)


def test_simulated_correct_histories_pass():
    for seed in range(30):
        h = simulate(seed, n_ops=200, unknown_rate=0.05 if seed % 2 else 0.0)
        report = validate(h, timeout_s=20)
        assert report.ok is True, (seed, report.explain())


def _corrupt_a_read(h: History) -> History | None:
    """Swap the value of a read for another value written to the same key: the put that made
    the read's mod_revision is acknowledged, so no order can explain it."""
    ops = h.operations
    puts = {o.response.revision: o.request for o in ops
            if isinstance(o.request, Put) and isinstance(o.response, PutResponse)}
    for i, o in enumerate(ops):
        if isinstance(o.request, Get) and not o.request.revision and not o.unknown \
                and isinstance(o.response, RangeResponse) and o.response.kvs:
            kv0 = o.response.kvs[0]
            if kv0.mod_revision not in puts:
                continue
            other = next((p.value for p in puts.values()
                          if p.key == kv0.key and p.value != kv0.value), None)
            if other is not None:
                bad = replace(o, response=replace(o.response, kvs=(replace(kv0, value=other),)))
                return History(ops[:i] + (bad,) + ops[i + 1:], h.watches)
    return None


def test_simulated_histories_with_one_corrupted_read_fail():
    failed = 0
    for seed in range(20):
        h = simulate(seed, n_ops=200, unknown_rate=0.05)
        bad = _corrupt_a_read(h)
        if bad is None:
            continue
        r = check(bad, timeout_s=20)
        assert r.ok is False, seed
        failed += 1
    assert failed >= 15


def test_large_history_checks_in_seconds():
    h = simulate(1, n_ops=5000, unknown_rate=0.02)
    r = check(h, timeout_s=60)
    assert r.ok is True, r.explanation
    # About 0.3-1 s on the shared 2-core box; the bound only catches a blow-up.
    assert r.elapsed_s < 20, r.elapsed_s
