"""petcd.client against a real petcd member, over HTTP and over the native protocol, using
the petcd.testing plugin's fixtures."""
import asyncio

import pytest

from petcd.client import AsyncClient, Client, errors, txn as t
from petcd.common import kv

pytest_plugins = ["petcd.testing.plugin"]
pytestmark = pytest.mark.integration


def _exercise(c: Client) -> None:
    assert c.put("foo", "bar").header.revision == 2
    assert c.get_value("foo") == b"bar"
    assert c.put("foo", "baz", prev_kv=True).prev_kv.value == b"bar"
    c.put("fox", "1")
    r = c.get("fo", prefix=True, sort_order=kv.SortOrder.DESCEND)
    assert [x.key for x in r.kvs] == [b"fox", b"foo"] and r.count == 2
    ok = c.txn(t.Txn().when(t.value("foo") == "baz").then(t.put("k", "v"), t.get("foo")))
    assert ok.succeeded and ok.responses[1].response_range.kvs[0].value == b"baz"
    no = c.txn(t.Txn().when(t.version("foo") == 100).otherwise(t.get("k")))
    assert not no.succeeded and no.responses[0].response_range.kvs[0].value == b"v"
    assert c.delete("fo", prefix=True).deleted == 2
    with pytest.raises(errors.OutOfRange) as e:
        c.get("foo", revision=1000)
    assert e.value.message == "etcdserver: mvcc: required revision is a future revision"
    rev = c.get("k").header.revision
    c.compact(rev - 1)
    with pytest.raises(errors.OutOfRange):
        c.get("k", revision=rev - 2)
    st = c.status()
    assert st.leader == st.header.member_id
    assert len(c.members().members) == 1
    assert c.alarms().alarms == ()


def test_client_over_http(petcd_client):
    _exercise(petcd_client)
    assert petcd_client.version()["etcdcluster"]


def test_client_over_native_zmq(petcd_native_client):
    _exercise(petcd_native_client)


def test_failover_to_the_next_endpoint_for_reads(petcd_member):
    # the first endpoint refuses connections: a read and an unsent write go to the second
    from petcd.testing.member import free_port
    with Client([f"127.0.0.1:{free_port()}", petcd_member.http_endpoint]) as c:
        c.put("a", "1")
        assert c.get_value("a") == b"1"


def test_unreachable_is_a_clear_error():
    from petcd.testing.member import free_port
    with Client(f"127.0.0.1:{free_port()}", timeout_s=2) as c:
        with pytest.raises(errors.Unreachable) as e:
            c.get("a")
    assert "connection refused" in e.value.message


def test_async_client_many_in_flight_over_native(petcd_member):
    async def main():
        async with AsyncClient(petcd_member.zmq_endpoint) as c:
            await asyncio.gather(*(c.put(f"k{i:03d}", str(i)) for i in range(100)))
            r = await c.get("k", prefix=True, count_only=True)
            return r.count
    assert asyncio.run(main()) == 100


def test_leases_over_both_protocols(petcd_member):
    from petcd.client import Client
    for url in (petcd_member.zmq_endpoint, petcd_member.http_endpoint):
        c = Client(url)
        grant = c.lease_grant(30)
        assert grant.ttl == 30 and grant.id > 0
        assert c.lease_keep_alive_once(grant.id).ttl == 30
        ttl = c.lease_time_to_live(grant.id)
        assert ttl.granted_ttl == 30 and 25 <= ttl.ttl <= 30
        c.lease_revoke(grant.id)
        assert c.lease_time_to_live(grant.id).ttl == -1
