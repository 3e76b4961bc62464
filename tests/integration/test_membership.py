"""Membership changes on real members: a learner joins a running cluster, catches up, is
promoted; the leader is removed and stops itself; a member moves to another peer URL; a member
removed while it was down is told so when it comes back; and etcd's errors for each refusal."""
import asyncio
import base64
import time

import pytest

from petcd.client import AsyncClient, Client, errors

from .member import Member, free_port

pytestmark = pytest.mark.integration

# Small ticks, and a short health interval (etcd's is a fixed 5 s) so that membership changes
# need not wait after a start.
FAST = ("--heartbeat-interval", "50", "--election-timeout", "500",
        "--peer-health-interval-ms", "200")
# A log compacted early, so that a member joining later catches up by snapshot.
SNAPSHOTS = ("--snapshot-count", "40", "--snapshot-catch-up-entries", "5",
             "--snapshot-chunk-bytes", "4096")


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def poll(check, what: str, timeout_s: float = 30.0):
    """check() until it returns something truthy; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def status(m: Member) -> dict:
    return m.post("/v3/maintenance/status", {})[1]


def leader_of(members) -> Member | None:
    for m in members:
        try:
            st = status(m)
        except OSError:
            continue
        if st.get("leader") and st["leader"] == st["header"]["member_id"]:
            return m
    return None


def initial_cluster(members, extra: dict[str, int]) -> str:
    urls = [f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in members]
    urls += [f"{n}=http://127.0.0.1:{p}" for n, p in extra.items()]
    return ",".join(urls)


@pytest.fixture
def joiners(tmp_path):
    """joiners(name, initial_cluster, peer_port) -> a started Member joining with
    --initial-cluster-state existing; all stopped after."""
    started: list[Member] = []

    def start(name: str, cluster: str, peer_port: int, extra_args=()) -> Member:
        m = Member(tmp_path, name, ("--initial-cluster", cluster, "--initial-cluster-state",
                                    "existing", *FAST, *extra_args), peer_port=peer_port)
        started.append(m)
        return m.start()

    yield start
    for m in started:
        m.stop()


def same_keys(a: Member, b: Member) -> bool:
    q = {"key": b64("\0"), "range_end": b64("\0"), "serializable": True}
    return a.post("/v3/kv/range", q)[1].get("kvs") == b.post("/v3/kv/range", q)[1].get("kvs")


def hashes(members) -> set:
    return {m.post("/v3/maintenance/hashkv", {})[1]["hash"] for m in members}


def test_learner_joins_is_promoted_leader_removed_member_moved(start_cluster, joiners):
    members = start_cluster(3, extra_args=FAST + SNAPSHOTS)
    lead = poll(lambda: leader_of(members), "a leader")
    with Client(lead.url) as c:
        for i in range(60):  # past a raft snapshot: the log before it is gone
            c.put(f"k{i:02}", f"v{i}")
    follower = next(m for m in members if m is not lead)

    # Add a learner through a follower (the change goes to the leader).
    p4 = free_port()
    with Client(follower.url) as c:
        added = c.member_add([f"http://127.0.0.1:{p4}"], is_learner=True)
        assert added.member.is_learner and added.member.name == ""
        assert added.member.peer_urls == (f"http://127.0.0.1:{p4}",)
        assert len(added.members) == 4
        with pytest.raises(errors.FailedPrecondition,
                           match="^etcdserver: too many learner members in cluster$"):
            c.member_add(["http://127.0.0.1:1"], is_learner=True)
        with pytest.raises(errors.FailedPrecondition,
                           match="^etcdserver: can only promote a learner member which is in "
                                 "sync with leader$"):
            c.member_promote(added.member.id)  # it has not even started
    learner = joiners("c4", initial_cluster(members, {"c4": p4}), p4, SNAPSHOTS)
    assert int(status(learner)["header"]["member_id"]) == added.member.id

    # It catches up, by snapshot: the same keys, read locally (all a learner serves besides
    # status).
    poll(lambda: same_keys(learner, lead), "the learner to catch up")
    assert "installed the store received with snapshot" in learner.log_path.read_text()
    st = status(learner)
    assert st["isLearner"] is True
    for path, body in (("/v3/kv/put", {"key": b64("x"), "value": b64("y")}),
                       ("/v3/kv/range", {"key": b64("k00")}),
                       ("/v3/cluster/member/list", {}), ("/v3/lease/grant", {"TTL": 5})):
        code, doc = learner.post(path, body)
        assert (code, doc["code"], doc["message"]) == (
            503, 14, "etcdserver: rpc not supported for learner"), path
    code, _, raw = learner.request("POST", "/v3/watch", b'{"create_request":{"key":"YQ=="}}')
    assert code == 503 and b"rpc not supported for learner" in raw

    with Client(follower.url) as c:
        promoted = c.member_promote(added.member.id)
    assert [m.is_learner for m in promoted.members] == [False] * 4
    poll(lambda: "isLearner" not in status(learner), "the learner to apply its promotion")
    everyone = [*members, learner]
    poll(lambda: len(hashes(everyone)) == 1, "the same hashkv on every member")
    assert learner.post("/v3/kv/put", {"key": b64("from-c4"), "value": b64("1")})[0] == 200

    # Remove the leader: it hands its leadership over and its member stops, with code 0.
    lead = poll(lambda: leader_of(everyone), "a leader")
    rest = [m for m in everyone if m is not lead]
    lead_id = int(status(lead)["header"]["member_id"])
    pids = lead.stage_pids()
    with Client(rest[0].url) as c:
        left = c.member_remove(lead_id)
    assert lead_id not in [m.id for m in left.members] and len(left.members) == 3
    assert poll(lambda: lead.proc.poll() is not None, "the removed member to exit") is True
    assert lead.proc.returncode == 0
    assert "the member has been permanently removed from the cluster" in lead.log_path.read_text()
    poll(lambda: not any(_alive(p) for p in pids.values()), "its stages to exit")
    poll(lambda: leader_of(rest), "a new leader")
    with Client([m.url for m in rest]) as c:
        c.put("after-removal", "ok")
        with pytest.raises(errors.NotFound, match="^etcdserver: member not found$"):
            c.member_remove(lead_id)
    poll(lambda: all(same_keys(m, rest[0]) for m in rest), "the writes on every member")

    # Move the former learner to another peer port: update, then restart it there.
    moved = free_port()
    others = [m for m in rest if m is not learner]
    with Client([m.url for m in others]) as c:
        updated = c.member_update(added.member.id, [f"http://127.0.0.1:{moved}"])
        assert (f"http://127.0.0.1:{moved}",) in [m.peer_urls for m in updated.members]
        learner.stop()
        c.put("while-moving", "1")  # 2 of 3 voters
    learner.peer_port = moved
    learner.start()
    poll(lambda: same_keys(learner, others[0]), "the moved member to catch up")
    with Client(learner.url) as c:
        assert c.get_value("while-moving") == b"1"  # linearizable: it is a voter again


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_a_member_removed_while_down_stops_when_it_comes_back(start_cluster):
    members = start_cluster(3, extra_args=FAST)
    poll(lambda: leader_of(members), "a leader")
    down = members[2]
    down_id = int(status(down)["header"]["member_id"])
    down.stop()
    with Client(members[0].url) as c:
        # The leader is not connected to every voter: etcd refuses to add even a learner.
        poll(lambda: _refused_unhealthy(c), "the leader to notice the member is down")
        c.member_remove(down_id)  # a member that is down may go: it is in no active quorum
        assert [m.id for m in c.members().members if m.id == down_id] == []
    down.launch()
    assert poll(lambda: down.proc.poll() is not None, "the removed member to exit") is True
    assert down.proc.returncode == 0
    assert "permanently removed from the cluster" in down.log_path.read_text()


def _refused_unhealthy(c: Client) -> bool:
    try:
        c.member_add(["http://127.0.0.1:1"], is_learner=True)
    except errors.Unavailable as e:
        assert e.message == "etcdserver: unhealthy cluster"
        return True
    raise AssertionError("a learner was added while a voter is down")


def test_membership_errors_on_one_member(start_member):
    m = start_member(name="solo", extra_args=FAST)
    me = int(status(m)["header"]["member_id"])
    with Client(f"tcp://127.0.0.1:{m.zmq_port}") as c:  # the native API, too
        # The client checks peer URLs before sending them, as etcd's clientv3 does.
        with pytest.raises(errors.InvalidArgument,
                           match="^URL scheme must be http, https, unix, or unixs: foo$"):
            c.member_add(["foo"])
        with pytest.raises(errors.InvalidArgument):
            c.member_add([])
        with pytest.raises(errors.FailedPrecondition,
                           match="^etcdserver: Peer URLs already exists$"):
            c.member_add([f"http://127.0.0.1:{m.peer_port}"])
        with pytest.raises(errors.NotFound, match="^etcdserver: member not found$"):
            c.member_remove(42)
        with pytest.raises(errors.NotFound, match="^etcdserver: member not found$"):
            c.member_update(42, ["http://127.0.0.1:2"])
        with pytest.raises(errors.InvalidArgument, match="^URL must not contain a path"):
            c.member_update(me, ["http://127.0.0.1:2/path"])
        # The only member: removing or promoting it would leave no started quorum.
        with pytest.raises(errors.Unknown,  # etcd 3.4 gives it no gRPC code
                           match="^etcdserver: re-configuration failed due to not enough "
                                 "started members$"):
            c.member_remove(me)
        learner = c.member_add(["http://127.0.0.1:1"], is_learner=True).member
        with pytest.raises(errors.FailedPrecondition, match="which is in sync with leader$"):
            c.member_promote(learner.id)
        updated = c.member_update(learner.id, ["http://127.0.0.1:3", "http://127.0.0.1:2"])
        assert [x.peer_urls for x in updated.members if x.id == learner.id] == [
            ("http://127.0.0.1:2", "http://127.0.0.1:3")]
        assert len(c.member_remove(learner.id).members) == 1

        async def via_async_client():
            async with AsyncClient(f"tcp://127.0.0.1:{m.zmq_port}") as ac:
                added = await ac.member_add(["http://127.0.0.1:9"], is_learner=True)
                return added, await ac.member_remove(added.member.id)
        added, left = asyncio.run(via_async_client())
        assert added.member.is_learner and len(left.members) == 1
        # etcd lets a lone member add a second voter (it then has no quorum until that one
        # starts), but not a third.
        c.member_add(["http://127.0.0.1:4"])
        with pytest.raises(errors.Unknown, match="not enough started members$"):
            c.member_add(["http://127.0.0.1:5"])
    # The server checks them too; etcd 3.4 does not for an update, and its members crash.
    for path, body in (("add", {"peerURLs": ["foo"]}),
                       ("update", {"ID": str(me), "peerURLs": ["http://127.0.0.1:2/path"]})):
        code, doc = m.post(f"/v3/cluster/member/{path}", body)
        assert (code, doc["code"], doc["message"]) == (
            400, 3, "etcdserver: given member URLs are invalid"), path
    code, doc = m.post("/v3/cluster/member/remove", {"ID": "-1"})
    assert code == 400 and "cannot unmarshal" in doc["message"]
