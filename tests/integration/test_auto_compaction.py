"""--auto-compaction-mode periodic compacts history older than the retention by itself."""
import base64
import time

import pytest

pytestmark = pytest.mark.integration


def test_periodic_auto_compaction(start_member):
    m = start_member(name="autocompact", extra_args=("--auto-compaction-retention", "1s"))
    key = base64.b64encode(b"k").decode()
    for i in range(3):
        assert m.post("/v3/kv/put", {"key": key, "value": key})[0] == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = m.post("/v3/kv/range", {"key": key, "revision": 2})
        if status == 400:
            assert body["message"] == "etcdserver: mvcc: required revision has been compacted"
            return
        time.sleep(0.2)
    pytest.fail("history at revision 2 was never compacted")


def test_physical_compaction_answers_once_done(start_member):
    m = start_member(name="physical")
    key = base64.b64encode(b"k").decode()
    for i in range(50):
        assert m.post("/v3/kv/put", {"key": key, "value": key})[0] == 200
    status, body = m.post("/v3/kv/compaction", {"revision": 40, "physical": True})
    assert status == 200 and body["header"]["revision"] == "51"
    status, body = m.post("/v3/kv/range", {"key": key, "revision": 39})
    assert status == 400 and body["code"] == 11
    assert m.post("/v3/kv/range", {"key": key, "revision": 40})[0] == 200
