"""put_size's inlined form agrees with the field-by-field rules it shortcuts."""
import random

from petcd.common import proto_size as ps
from petcd.common.kv import PutRequest


def _by_fields(r):
    return (ps._bytes(1, r.key) + ps._bytes(1, r.value) + ps._int(r.lease)
            + ps._bool(r.prev_kv) + ps._bool(r.ignore_value) + ps._bool(r.ignore_lease))


def test_known_sizes():
    assert ps.put_size(PutRequest(key=b"foo", value=b"bar")) == 10
    assert ps.put_size(PutRequest(key=b"k" * 128)) == 1 + 2 + 128
    assert ps.put_size(PutRequest(key=b"k", lease=-1)) == 3 + 1 + 10
    assert ps.put_size(PutRequest()) == 0


def test_agrees_with_the_field_rules():
    rnd = random.Random(7)
    for _ in range(5000):
        r = PutRequest(key=b"k" * rnd.choice([0, 1, 127, 128, 16384]),
                       value=b"v" * rnd.choice([0, 5, 127, 128, 16383, 16384, 70000]),
                       lease=rnd.choice([0, 1, 127, 128, 2 ** 40, -1]),
                       prev_kv=rnd.random() < .5, ignore_value=rnd.random() < .5,
                       ignore_lease=rnd.random() < .5)
        assert ps.put_size(r) == _by_fields(r), r


def test_str_fields_count_their_utf8_bytes():
    assert ps.put_size(PutRequest(key="é", value="x")) == 1 + 1 + 2 + 1 + 1 + 1
