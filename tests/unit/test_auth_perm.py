"""Key permissions (common/auth_perm.py): etcd 3.4's interval rules, and a model check."""
import random

from petcd.common.auth import PermType, Permission
from petcd.common.auth_perm import allowed, checks_of, leases_of, merge
from petcd.common.kv import (
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
)

R, W, RW = PermType.READ, PermType.WRITE, PermType.READWRITE


def perms(*grants):
    return merge(Permission(t, k, e) for t, k, e in grants)


def test_a_single_key_grant_covers_that_key_only():
    p = perms((R, b"a", b""))
    assert allowed(p, b"a", b"", write=False)
    assert not allowed(p, b"ab", b"", write=False)
    assert not allowed(p, b"a", b"", write=True)
    assert allowed(p, b"a", b"a\0", write=False)  # the range of just that key
    assert not allowed(p, b"a", b"b", write=False)


def test_a_range_request_needs_a_cover_without_gaps():
    p = perms((R, b"a", b"c"), (R, b"c", b"e"), (R, b"f", b"g"))
    assert allowed(p, b"a", b"e", write=False)  # adjacent grants join
    assert allowed(p, b"b", b"d", write=False)
    assert not allowed(p, b"a", b"f", write=False)  # a gap [e, f)
    assert not allowed(p, b"a", b"\0", write=False)  # to the end of the key space
    assert not allowed(p, b"0", b"b", write=False)  # starts before the grants


def test_from_key_grants_run_to_the_end():
    p = perms((RW, b"x", b"\0"))
    assert allowed(p, b"x", b"\0", write=True)
    assert allowed(p, b"zzz", b"", write=False)
    assert allowed(p, b"y", b"\0", write=False)
    assert not allowed(p, b"w", b"\0", write=False)


def test_readwrite_is_both_and_roles_merge():
    p = perms((W, b"p/", b"p0"), (R, b"a", b""))
    assert allowed(p, b"p/1", b"", write=True)
    assert not allowed(p, b"p/1", b"", write=False)
    assert allowed(p, b"a", b"", write=False)


def test_checks_of_every_request_shape():
    assert list(checks_of(RangeRequest(key=b"a", range_end=b"b"))) == [(b"a", b"b", False)]
    assert list(checks_of(PutRequest(key=b"k", prev_kv=True))) == [(b"k", b"", True),
                                                                    (b"k", b"", False)]
    assert list(checks_of(DeleteRangeRequest(key=b"a", range_end=b"b"))) == [(b"a", b"b", True)]
    nested = TxnRequest(success=(RequestOp(request_put=PutRequest(key=b"n")),))
    txn = TxnRequest(compare=(Compare(key=b"c"),),
                     success=(RequestOp(request_range=RangeRequest(key=b"r")),),
                     failure=(RequestOp(request_txn=nested),))
    assert list(checks_of(txn)) == [(b"c", b"", False), (b"r", b"", False), (b"n", b"", True)]
    assert list(leases_of(TxnRequest(failure=(RequestOp(request_put=PutRequest(lease=7)),)))) == [7]


def _model(grants, key, range_end):
    """Brute force over a small alphabet: every key in the request's range is granted."""
    def granted(k):
        for b, e in grants:
            if not e:
                if k == b:
                    return True
            elif b <= k and (e == b"\0" or k < e):
                return True
        return False
    base = [bytes([x, y]) for x in b"abcd" for y in b"abcd"] + [bytes([x]) for x in b"abcd"]
    # and the keys just after each (k + "\0" is the end of a one-key grant)
    universe = base + [k + b"\0" for k in base] + [k + b"\1" for k in base]
    if not range_end:
        return granted(key)
    inside = [k for k in universe if key <= k and (range_end == b"\0" or k < range_end)]
    return bool(inside) and all(granted(k) for k in inside)


def test_agrees_with_a_brute_force_model_on_a_small_key_space():
    rng = random.Random(7)
    keys = [bytes([x]) for x in b"abcd"] + [bytes([x, b"a"[0]]) for x in b"abcd"]
    for _ in range(400):
        grants = []
        for _ in range(rng.randint(0, 3)):
            b = rng.choice(keys)
            e = rng.choice([b"", b"\0", *[k for k in keys if k > b]])
            grants.append((b, e))
        p = perms(*[(R, b, e) for b, e in grants])
        key = rng.choice(keys)
        end = rng.choice([b"", b"\0", *[k for k in keys if k > key]])
        assert allowed(p, key, end, write=False) == _model(grants, key, end), (grants, key, end)
