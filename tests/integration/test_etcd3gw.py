"""etcd3gw, a real etcd HTTP client (OpenStack's), unmodified against petcd: everything its
documentation shows: put/get/delete/prefix, leases and their keys, watch and watch_prefix,
locks, status and members."""
import etcd3gw   # in the test extra
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def client(start_member):
    m = start_member()
    return etcd3gw.Etcd3Client(host="127.0.0.1", port=m.client_port, timeout=10)


def test_kv_status_and_members(client):
    assert client.status()["version"] == "3.4.23"
    assert len(client.members()) == 1 and client.members()[0]["clientURLs"]
    assert client.put("foo", "bar") is True
    assert client.get("foo") == [b"bar"]
    assert client.create("foo", "x") is False and client.create("new", "x") is True
    assert client.replace("foo", "bar", "baz") is True
    assert client.replace("foo", "bar", "qux") is False
    client.put("/dir/a", "1")
    client.put("/dir/b", "2")
    assert sorted(v for v, _ in client.get_prefix("/dir/")) == [b"1", b"2"]
    assert client.delete("foo") is True and client.get("foo") == []
    assert client.delete_prefix("/dir/") is True and client.get_prefix("/dir/") == []
    assert [(v, meta["key"]) for v, meta in client.get_all()] == [(b"x", b"new")]


def test_leases_and_their_keys(client):
    lease = client.lease(ttl=60)
    client.put("leased", "v", lease=lease)
    assert lease.keys() == [b"leased"]
    assert 55 <= lease.ttl() <= 60
    assert lease.refresh() == 60
    assert lease.revoke() is True
    assert client.get("leased") == []


def test_watch_and_watch_prefix(client):
    events, cancel = client.watch("w")
    prefix_events, cancel_prefix = client.watch_prefix("/p/")
    client.put("w", "1")
    client.put("/p/x", "2")
    client.delete("w")
    first, second = next(events), next(events)
    assert (first["kv"]["key"], first["kv"]["value"]) == (b"w", b"1")
    assert second["type"] == "DELETE" and second["kv"]["key"] == b"w"
    event = next(prefix_events)
    assert (event["kv"]["key"], event["kv"]["value"]) == (b"/p/x", b"2")
    cancel()
    cancel_prefix()


def test_locks(client):
    lock = client.lock("my-lock", ttl=30)
    assert lock.acquire() is True and lock.is_acquired()
    other = client.lock("my-lock", ttl=30)
    assert other.acquire() is False
    assert lock.release() is True and not lock.is_acquired()
    with client.lock("my-lock", ttl=30) as held:
        assert held.is_acquired()
