"""The client's lease, watch, lock and election code against petcd (over HTTP and over the
native ZeroMQ protocol), and against a real etcd 3.4 where one is installed (the same code
must work on all)."""
import shutil
import threading

import pytest

from petcd.client import Client, errors
from petcd.common.kv import EventType
from petcd.testing.member import ThrowawayMember
from tests.conformance.record import Etcd

pytestmark = pytest.mark.integration


@pytest.fixture(params=["petcd", "petcd-native", "etcd"])
def etcd_client(request, tmp_path):
    if request.param.startswith("petcd"):
        m = ThrowawayMember(tmp_path).start()
        try:
            with Client(m.http_endpoint if request.param == "petcd" else m.zmq_endpoint) as c:
                yield c
        finally:
            m.stop()
        return
    if shutil.which("etcd") is None:
        pytest.skip("needs an etcd binary")
    e = Etcd(shutil.which("etcd"))
    try:
        e.start()
        with Client(f"127.0.0.1:{e.client_port}") as c:
            yield c
    finally:
        e.stop()


def test_lease_grant_keepalive_revoke(etcd_client):
    c = etcd_client
    g = c.lease_grant(30)
    c.put("lk", "v", lease=g.id)
    ttl = c.lease_time_to_live(g.id, keys=True)
    assert ttl.granted_ttl == 30 and ttl.keys == (b"lk",)
    assert [x.id for x in c.leases().leases] == [g.id]
    with c.keep_alive(g.id, interval_s=0.2) as ka:
        assert ka.refreshes >= 1 and ka.ttl_s == 30
    c.lease_revoke(g.id)
    assert c.get_value("lk") is None
    assert c.lease_keep_alive_once(g.id).ttl == 0
    with pytest.raises(errors.NotFound):
        c.lease_revoke(g.id)


def test_watch_iterates_events_and_raises_when_compacted(etcd_client):
    c = etcd_client
    first = c.put("w", "1").header.revision
    c.put("w", "2")
    c.delete("w")
    with c.watch("w", start_revision=first, prev_kv=True) as w:
        events = []
        for resp in w:
            events += resp.events
            if len(events) == 3:
                break
    assert [(e.type, e.kv.value) for e in events] == [
        (EventType.PUT, b"1"), (EventType.PUT, b"2"), (EventType.DELETE, b"")]
    assert events[2].prev_kv.value == b"2"
    c.compact(first + 1)
    with pytest.raises(errors.WatchCompacted) as e:
        next(iter(c.watch("w", start_revision=first)))
    assert e.value.compact_revision == first + 1


def test_lock_is_exclusive(etcd_client):
    c = etcd_client
    order = []
    held = c.lock("L", ttl_s=10).acquire()
    got_it = threading.Event()

    def second():
        with c.lock("L", ttl_s=10):
            order.append("second")
            got_it.set()

    t = threading.Thread(target=second)
    t.start()
    order.append("first")
    held.release()
    assert got_it.wait(10)
    t.join()
    assert order == ["first", "second"]


def test_election_leader_is_the_first_campaigner(etcd_client):
    c = etcd_client
    e1 = c.election("E").campaign("one")
    assert e1.leader().value == b"one"
    e1.proclaim("uno")
    assert e1.leader().value == b"uno"
    e1.resign()
    assert e1.leader() is None


def test_member_add_update_promote_remove(etcd_client):
    c = etcd_client
    me = c.status().header.member_id
    added = c.member_add(["http://127.0.0.1:1"], is_learner=True)
    learner = added.member
    assert learner.is_learner and learner.name == "" and learner.id != me
    assert sorted(m.id for m in added.members) == sorted([me, learner.id])
    with pytest.raises(errors.FailedPrecondition, match="too many learner members"):
        c.member_add(["http://127.0.0.1:2"], is_learner=True)
    with pytest.raises(errors.FailedPrecondition, match="in sync with leader$"):
        c.member_promote(learner.id)  # it never started
    with pytest.raises(errors.FailedPrecondition, match="^etcdserver: can only promote a "
                                                        "learner member$"):
        c.member_promote(me)
    # Update the member itself (etcd 3.4 would list an updated learner as a voter).
    mine = next(m for m in c.members().members if m.id == me)
    updated = c.member_update(me, [*mine.peer_urls, "http://127.0.0.1:3"])
    assert "http://127.0.0.1:3" in next(m for m in updated.members if m.id == me).peer_urls
    c.member_update(me, mine.peer_urls)
    assert [m.id for m in c.member_remove(learner.id).members] == [me]
    with pytest.raises(errors.NotFound, match="^etcdserver: member not found$"):
        c.member_remove(learner.id)
