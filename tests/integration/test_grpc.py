"""etcd's gRPC services on a member's client port, through a gRPC client (grpclib, with the
stubs generated from etcd's .proto): answers, errors with etcd's codes and messages, streams,
and HTTP on the same port. One member serves the module; each test keeps to its own keys."""
from __future__ import annotations

import asyncio
import http.client

import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from grpclib.health.v1 import health_pb2, health_grpc

from petcd.common.proto import kv_pb2, rpc_grpc, rpc_pb2 as pb

from .member import Member

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    m = Member(tmp_path_factory.mktemp("grpc"), "g1", ("--max-request-bytes", "100000"))
    m.start()
    yield m
    m.stop()


def run(member, body):
    """Run `body(channel)` against the member's client port on a fresh loop."""
    async def main():
        channel = Channel("127.0.0.1", member.client_port)
        try:
            return await asyncio.wait_for(body(channel), 20)
        finally:
            channel.close()
    return asyncio.run(main())


def test_put_range_txn_delete(member):
    async def body(ch):
        kv = rpc_grpc.KVStub(ch)
        put = await kv.Put(pb.PutRequest(key=b"kv/a", value=b"1"))
        assert put.header.revision > 1 and put.header.member_id and put.header.cluster_id
        got = await kv.Range(pb.RangeRequest(key=b"kv/a"))
        assert [(x.key, x.value, x.version) for x in got.kvs] == [(b"kv/a", b"1", 1)]
        assert got.count == 1 and got.header.revision == put.header.revision
        txn = await kv.Txn(pb.TxnRequest(
            compare=[pb.Compare(key=b"kv/a", target=pb.Compare.VALUE,
                                result=pb.Compare.EQUAL, value=b"1")],
            success=[pb.RequestOp(request_put=pb.PutRequest(key=b"kv/b", value=b"2",
                                                            prev_kv=True))],
            failure=[pb.RequestOp(request_range=pb.RangeRequest(key=b"kv/a"))]))
        assert txn.succeeded and txn.responses[0].WhichOneof("response") == "response_put"
        gone = await kv.DeleteRange(pb.DeleteRangeRequest(key=b"kv/", range_end=b"kv0",
                                                          prev_kv=True))
        assert gone.deleted == 2 and [x.key for x in gone.prev_kvs] == [b"kv/a", b"kv/b"]
    run(member, body)


def test_errors_carry_etcds_code_and_message(member):
    async def body(ch):
        kv = rpc_grpc.KVStub(ch)
        with pytest.raises(GRPCError) as e:
            await kv.Put(pb.PutRequest(key=b"", value=b"x"))
        assert (e.value.status, e.value.message) == (Status.INVALID_ARGUMENT,
                                                     "etcdserver: key is not provided")
        with pytest.raises(GRPCError) as e:
            await kv.Range(pb.RangeRequest(key=b"x", revision=10 ** 9))
        assert e.value.status == Status.OUT_OF_RANGE
        assert e.value.message == "etcdserver: mvcc: required revision is a future revision"
        # past --max-request-bytes: etcd's check; past it plus 512 KiB: grpc-go's receive limit
        with pytest.raises(GRPCError) as e:
            await kv.Put(pb.PutRequest(key=b"big", value=b"x" * 200_000))
        assert (e.value.status, e.value.message) == (Status.INVALID_ARGUMENT,
                                                     "etcdserver: request is too large")
        huge = pb.PutRequest(key=b"big", value=b"x" * 700_000)
        with pytest.raises(GRPCError) as e:
            await kv.Put(huge)
        assert e.value.status == Status.RESOURCE_EXHAUSTED
        assert e.value.message == (f"grpc: received message larger than max "
                                   f"({huge.ByteSize()} vs. {100_000 + 512 * 1024})")
        lease = rpc_grpc.LeaseStub(ch)
        with pytest.raises(GRPCError) as e:
            await lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=12345))
        assert (e.value.status, e.value.message) == (Status.NOT_FOUND,
                                                     "etcdserver: requested lease not found")
    run(member, body)


def test_unknown_services_and_methods_are_unimplemented_as_grpc_go_says(member):
    async def body(ch):
        for path, message in (
                ("/etcdserverpb.KV/Nope", "unknown method Nope for service etcdserverpb.KV"),
                ("/nope.Service/Get", "unknown service nope.Service")):
            with pytest.raises(GRPCError) as e:
                async with ch.request(path, Cardinality.UNARY_UNARY, pb.RangeRequest,
                                      pb.RangeResponse) as stream:
                    await stream.send_message(pb.RangeRequest(key=b"a"), end=True)
                    await stream.recv_message()
            assert (e.value.status, e.value.message) == (Status.UNIMPLEMENTED, message)
    run(member, body)


def test_watch_stream_sees_events_and_cancels(member):
    async def body(ch):
        kv = rpc_grpc.KVStub(ch)
        async with rpc_grpc.WatchStub(ch).Watch.open() as stream:
            await stream.send_message(pb.WatchRequest(create_request=pb.WatchCreateRequest(
                key=b"w/", range_end=b"w0", prev_kv=True)))
            created = await stream.recv_message()
            assert created.created and created.watch_id == 0
            await kv.Put(pb.PutRequest(key=b"w/x", value=b"1"))
            await kv.Put(pb.PutRequest(key=b"w/x", value=b"2"))
            seen = []
            while len(seen) < 2:
                resp = await stream.recv_message()
                seen += [(e.type, e.kv.value, e.prev_kv.value) for e in resp.events]
            assert seen == [(kv_pb2.Event.PUT, b"1", b""),
                            (kv_pb2.Event.PUT, b"2", b"1")]
            await stream.send_message(pb.WatchRequest(
                cancel_request=pb.WatchCancelRequest(watch_id=0)))
            canceled = await stream.recv_message()
            assert canceled.canceled and canceled.watch_id == 0
            await stream.send_message(pb.WatchRequest(
                progress_request=pb.WatchProgressRequest()))
            progress = await stream.recv_message()
            assert progress.watch_id == -1 and progress.header.revision > 0
            await stream.cancel()
    run(member, body)


def test_lease_keep_alive_stream(member):
    async def body(ch):
        lease = rpc_grpc.LeaseStub(ch)
        granted = await lease.LeaseGrant(pb.LeaseGrantRequest(TTL=30))
        async with lease.LeaseKeepAlive.open() as stream:
            await stream.send_message(pb.LeaseKeepAliveRequest(ID=granted.ID))
            alive = await stream.recv_message()
            assert (alive.ID, alive.TTL) == (granted.ID, 30)
            await stream.send_message(pb.LeaseKeepAliveRequest(ID=granted.ID + 1))
            unknown = await stream.recv_message()
            assert (unknown.ID, unknown.TTL) == (granted.ID + 1, 0)  # etcd: TTL 0, no error
            await stream.end()
            assert await stream.recv_message() is None
        ttl = await lease.LeaseTimeToLive(pb.LeaseTimeToLiveRequest(ID=granted.ID))
        assert ttl.grantedTTL == 30 and 0 < ttl.TTL <= 30
        await lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=granted.ID))
    run(member, body)


def test_maintenance_cluster_auth_and_health(member):
    async def body(ch):
        status = await rpc_grpc.MaintenanceStub(ch).Status(pb.StatusRequest())
        assert status.version == "3.4.23" and status.leader == status.header.member_id
        members = await rpc_grpc.ClusterStub(ch).MemberList(pb.MemberListRequest())
        assert [m.name for m in members.members] == ["g1"]
        h = await rpc_grpc.MaintenanceStub(ch).HashKV(pb.HashKVRequest())
        assert h.header.revision > 0
        with pytest.raises(GRPCError) as e:
            await rpc_grpc.AuthStub(ch).Authenticate(pb.AuthenticateRequest(name="a",
                                                                            password="b"))
        assert (e.value.status, e.value.message) == (
            Status.FAILED_PRECONDITION, "etcdserver: authentication is not enabled")
        assert list((await rpc_grpc.AuthStub(ch).UserList(pb.AuthUserListRequest())).users) \
            == []
        health = await health_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    run(member, body)


def test_http_gateway_answers_on_the_same_port(member):
    conn = http.client.HTTPConnection("127.0.0.1", member.client_port, timeout=10)
    conn.request("GET", "/version")
    resp = conn.getresponse()
    assert resp.status == 200 and b"3.4.23" in resp.read()
    conn.close()


def test_snapshot_stream_is_the_store_with_its_sha256(member):
    import hashlib

    async def body(ch):
        await rpc_grpc.KVStub(ch).Put(pb.PutRequest(key=b"snap/a", value=b"1"))
        async with rpc_grpc.MaintenanceStub(ch).Snapshot.open() as stream:
            await stream.send_message(pb.SnapshotRequest(), end=True)
            return [m async for m in stream]
    chunks = run(member, body)
    data = b"".join(c.blob for c in chunks[:-1])
    assert chunks[-1].blob == hashlib.sha256(data).digest()
    assert len(data) % 4096 == 0 and all(len(c.blob) <= 32 * 1024 for c in chunks)
    assert [c.remaining_bytes for c in chunks[:-1]] == \
        [len(data) - sum(len(c.blob) for c in chunks[:i + 1]) for i in range(len(chunks) - 1)]
    assert b"snap/a" in data


def test_lock_waits_for_the_holder_and_a_gone_waiter_lets_go(member):
    from petcd.common.proto import v3lock_grpc, v3lock_pb2 as lockpb

    async def body(ch):
        locks = v3lock_grpc.LockStub(ch)
        kv = rpc_grpc.KVStub(ch)
        held = await locks.Lock(lockpb.LockRequest(name=b"lk"))
        assert held.key.startswith(b"lk/")
        async def keys():
            return [x.key for x in (await kv.Range(pb.RangeRequest(key=b"lk/",
                                                                  range_end=b"lk0"))).kvs]

        # queued second: a waiter whose call ends (its deadline) before it gets the lock
        gone = asyncio.ensure_future(locks.Lock(lockpb.LockRequest(name=b"lk"), timeout=1.0))
        while len(await keys()) < 2:
            await asyncio.sleep(0.01)
        # queued third: gets the lock only once both keys before its own are deleted
        waiter = asyncio.ensure_future(locks.Lock(lockpb.LockRequest(name=b"lk")))
        with pytest.raises(asyncio.TimeoutError):
            await gone  # its deadline passed while it waited (the server ends the call too)
        assert not waiter.done()
        await locks.Unlock(lockpb.UnlockRequest(key=held.key))
        second = await waiter
        assert second.key != held.key and second.header.revision > held.header.revision
        assert await keys() == [second.key]  # the gone waiter's key was deleted
        await locks.Unlock(lockpb.UnlockRequest(key=second.key))
    run(member, body)


def test_election_campaign_proclaim_observe_resign(member):
    from petcd.common.proto import v3election_grpc, v3election_pb2 as elpb

    async def body(ch):
        el = v3election_grpc.ElectionStub(ch)
        with pytest.raises(GRPCError) as e:
            await el.Leader(elpb.LeaderRequest(name=b"el"))
        assert (e.value.status, e.value.message) == (Status.UNKNOWN, "election: no leader")
        won = await el.Campaign(elpb.CampaignRequest(name=b"el", value=b"v1"))
        async with el.Observe.open() as watch:
            await watch.send_message(elpb.LeaderRequest(name=b"el"), end=True)
            first = await watch.recv_message()
            assert first.kv.value == b"v1"
            await el.Proclaim(elpb.ProclaimRequest(leader=won.leader, value=b"v2"))
            second = await watch.recv_message()
            assert second.kv.value == b"v2" and second.header.revision == second.kv.mod_revision
            await watch.cancel()
        with pytest.raises(GRPCError) as e:
            await el.Proclaim(elpb.ProclaimRequest(value=b"x"))
        assert e.value.message == '"leader" field must be provided'
        await el.Resign(elpb.ResignRequest(leader=won.leader))
        with pytest.raises(GRPCError) as e:
            await el.Proclaim(elpb.ProclaimRequest(leader=won.leader, value=b"v3"))
        assert (e.value.status, e.value.message) == (Status.UNKNOWN, "election: not leader")
    run(member, body)


def test_malformed_protobuf_is_internal_and_the_member_serves_on(member):
    async def body(ch):
        with pytest.raises(GRPCError) as e:
            async with ch.request("/etcdserverpb.KV/Range", Cardinality.UNARY_UNARY,
                                  _Raw, pb.RangeResponse) as stream:
                await stream.send_message(_Raw(b"\xff\xff\xff\xff\xff"), end=True)
                await stream.recv_message()
        assert e.value.status == Status.INTERNAL
        assert e.value.message.startswith("grpc: error unmarshalling request: ")
        await rpc_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"any"))
    run(member, body)
    assert "Traceback" not in member.log_path.read_text()


class _Raw:
    """A message that serializes to the given bytes (to send what protobuf would refuse)."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def SerializeToString(self) -> bytes:
        return self.data


def test_defragment_shrinks_the_store_online_and_survives_a_restart(member):
    async def body(ch):
        kv = rpc_grpc.KVStub(ch)
        maintenance = rpc_grpc.MaintenanceStub(ch)
        for i in range(300):
            await kv.Put(pb.PutRequest(key=b"dfg/%03d" % i, value=b"x" * 5000))
        await kv.DeleteRange(pb.DeleteRangeRequest(key=b"dfg/", range_end=b"dfg0"))
        rev = (await kv.Put(pb.PutRequest(key=b"dfg-kept", value=b"1"))).header.revision
        await kv.Compact(pb.CompactionRequest(revision=rev, physical=True))
        before = await maintenance.Status(pb.StatusRequest())
        async with rpc_grpc.WatchStub(ch).Watch.open() as watch:
            await watch.send_message(pb.WatchRequest(create_request=pb.WatchCreateRequest(
                key=b"dfg-after")))
            assert (await watch.recv_message()).created
            assert await maintenance.Defragment(pb.DefragmentRequest()) == \
                pb.DefragmentResponse()  # etcd 3.4: no header
            after = await maintenance.Status(pb.StatusRequest())
            assert after.dbSize < before.dbSize / 2
            put = await kv.Put(pb.PutRequest(key=b"dfg-after", value=b"2"))
            event = await watch.recv_message()  # the watch hub reads the new file
            assert [e.kv.value for e in event.events] == [b"2"]
            await watch.cancel()
        for serializable in (False, True):
            got = await kv.Range(pb.RangeRequest(key=b"dfg-", range_end=b"dfg.",
                                                 serializable=serializable))
            assert [(x.key, x.value) for x in got.kvs] == [(b"dfg-after", b"2"),
                                                           (b"dfg-kept", b"1")]
        return put.header.revision
    rev = run(member, body)
    member.stop()
    member.start()

    async def after_restart(ch):
        got = await rpc_grpc.KVStub(ch).Range(pb.RangeRequest(key=b"dfg-after"))
        assert got.kvs[0].value == b"2" and got.header.revision == rev
    run(member, after_restart)


def test_the_asyncio_client_and_petcd_bench_speak_grpc(member):
    import subprocess
    import sys

    from petcd.client import AsyncClient
    from petcd.client.errors import InvalidArgument

    async def body():
        async with AsyncClient(f"grpc://127.0.0.1:{member.client_port}") as c:
            await c.put(b"aio/a", b"1")
            assert (await c.get(b"aio/a")).kvs[0].value == b"1"
            with pytest.raises(InvalidArgument) as e:
                await c.put(b"", b"x")
            assert e.value.message == "etcdserver: key is not provided"
            lease = await c.lease_grant(30)
            assert lease.ttl == 30
    asyncio.run(body())
    out = subprocess.run(
        [sys.executable, "-m", "petcd.bench.benchmark", "--endpoints",
         f"grpc://127.0.0.1:{member.client_port}", "--conns", "2", "--clients", "8", "put",
         "--total", "200"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "Requests/sec" in out.stdout, out.stderr


def test_listen_client_http_urls_split_grpc_and_http(tmp_path):
    from petcd.testing.member import free_port
    http_port = free_port()
    m = Member(tmp_path, "split", ("--listen-client-http-urls",
                                   f"http://127.0.0.1:{http_port}"))
    m.start()
    try:
        async def body(ch):
            return await rpc_grpc.KVStub(ch).Put(pb.PutRequest(key=b"split", value=b"1"))
        assert run(m, body).header.revision > 1  # gRPC on --listen-client-urls
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        conn.request("POST", "/v3/kv/range", body=b'{"key":"c3BsaXQ="}')
        resp = conn.getresponse()
        assert resp.status == 200 and b'"value":"MQ=="' in resp.read()  # HTTP alone there
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", m.client_port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            conn.request("GET", "/version")  # the gRPC-only port speaks no HTTP/1.1
            conn.getresponse()
        conn.close()
    finally:
        m.stop()
