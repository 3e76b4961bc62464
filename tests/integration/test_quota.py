"""--quota-backend-bytes: once a write would pass the quota, the NOSPACE alarm is raised for
the cluster, writes fail with etcd's error, reads and deletes still work; disarming (after
making room) lets writes through again."""
import base64

import pytest

pytestmark = pytest.mark.integration

NOSPACE = {"error": "etcdserver: mvcc: database space exceeded",
           "message": "etcdserver: mvcc: database space exceeded", "code": 8}


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_nospace_alarm(start_member):
    m = start_member(name="quota", extra_args=("--quota-backend-bytes", str(256 * 1024)))
    status = 200
    for i in range(200):
        status, body = m.post("/v3/kv/put", {"key": b64(b"k%03d" % i), "value": b64(b"x" * 8192)})
        if status != 200:
            break
    assert (status, body) == (429, NOSPACE)
    status, body = m.post("/v3/maintenance/alarm", {"action": "GET"})
    assert status == 200
    assert body == {"alarms": [{"memberID": _member_id(m), "alarm": "NOSPACE"}]}
    # Every write is refused now, even a small one; reads and deletes still work.
    assert m.post("/v3/kv/put", {"key": b64(b"small"), "value": b64(b"1")}) == (429, NOSPACE)
    assert m.post("/v3/kv/range", {"key": b64(b"k000")})[0] == 200
    assert m.post("/v3/kv/deleterange", {"key": b64(b"k"), "range_end": b64(b"l")})[0] == 200
    status, body = m.post("/v3/maintenance/alarm", {"action": "DEACTIVATE", "memberID":
                                                    _member_id(m), "alarm": "NOSPACE"})
    assert status == 200
    assert m.post("/v3/maintenance/alarm", {"action": "GET"}) == (200, {})


def _member_id(m) -> str:
    return m.post("/v3/cluster/member/list", {})[1]["header"]["member_id"]
