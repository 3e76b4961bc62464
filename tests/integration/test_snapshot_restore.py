"""A member's snapshot, saved with petcdctl and restored into a new data dir, starts a new
cluster: the keys, revisions, compaction and leases of the snapshot, new ids, the new member
list."""
import base64
import subprocess
import sys

import pytest

from petcd.testing.member import free_port

pytestmark = pytest.mark.integration


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def petcdctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "petcd.ctl", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def ok(m, path: str, doc: dict) -> dict:
    status, body = m.post(path, doc)
    assert status == 200, body
    return body


def test_restore_starts_a_new_cluster_with_the_snapshots_data(start_member, tmp_path):
    old = start_member("m1")
    lease = ok(old, "/v3/lease/grant", {"TTL": "600"})["ID"]
    for i in range(10):
        ok(old, "/v3/kv/put", {"key": b64(f"k{i}"), "value": b64(f"v{i}")})
    ok(old, "/v3/kv/put", {"key": b64("leased"), "value": b64("x"), "lease": lease})
    ok(old, "/v3/kv/put", {"key": b64("k0"), "value": b64("again")})
    ok(old, "/v3/kv/compaction", {"revision": "5", "physical": True})
    before = ok(old, "/v3/kv/range", {"key": b64("\0"), "range_end": b64("\0")})
    old_cluster = before["header"]["cluster_id"]
    snap = tmp_path / "snap.db"
    p = petcdctl("--endpoints", old.url, "snapshot", "save", str(snap))
    assert p.returncode == 0 and p.stdout == f"Snapshot saved at {snap}\n", p.stderr
    old.stop()

    p = petcdctl("snapshot", "status", str(snap), "-w", "json")
    assert p.returncode == 0, p.stderr
    assert f'"revision":{before["header"]["revision"]},' in p.stdout

    peer = f"http://127.0.0.1:{free_port()}"
    cluster = f"r1={peer}"
    restore = ("snapshot", "restore", str(snap), "--name", "r1",
               "--data-dir", str(tmp_path / "r1.petcd"), "--initial-cluster", cluster,
               "--initial-advertise-peer-urls", peer, "--initial-cluster-token", "restored")
    p = petcdctl(*restore)
    assert p.returncode == 0 and p.stdout == "", p.stderr

    new = start_member("r1", extra_args=("--listen-peer-urls", peer,
                                         "--initial-advertise-peer-urls", peer,
                                         "--initial-cluster", cluster))
    after = ok(new, "/v3/kv/range", {"key": b64("\0"), "range_end": b64("\0")})
    assert after["kvs"] == before["kvs"]
    assert after["header"]["revision"] == before["header"]["revision"]
    assert after["header"]["cluster_id"] != old_cluster
    members = ok(new, "/v3/cluster/member/list", {})
    assert [(m["name"], m["peerURLs"], m["clientURLs"]) for m in members["members"]] == \
        [("r1", [peer], [new.url])]
    assert members["members"][0]["ID"] == after["header"]["member_id"]
    # The compaction and the lease came along; writes go on from the snapshot's revision.
    status, body = new.post("/v3/kv/range", {"key": b64("k1"), "revision": "3"})
    assert body["code"] == 11, body
    assert [x["ID"] for x in ok(new, "/v3/lease/leases", {})["leases"]] == [lease]
    put = ok(new, "/v3/kv/put", {"key": b64("new"), "value": b64("1")})
    assert int(put["header"]["revision"]) == int(before["header"]["revision"]) + 1


def test_auth_comes_along_with_a_snapshot(start_member, tmp_path):
    old = start_member("a1")
    for args in (("user", "add", "root", "--new-user-password=rootpw"),
                 ("user", "add", "alice", "--new-user-password=apw"), ("role", "add", "r"),
                 ("role", "grant-permission", "r", "readwrite", "a/", "--prefix"),
                 ("user", "grant-role", "alice", "r"), ("auth", "enable")):
        p = petcdctl("--endpoints", old.url, *args)
        assert p.returncode == 0, (args, p.stderr)
    snap = tmp_path / "auth.db"
    p = petcdctl("--endpoints", old.url, "snapshot", "save", str(snap))
    assert "auth: user name is empty" in p.stderr  # root only, and this is nobody
    p = petcdctl("--endpoints", old.url, "--user", "root:rootpw", "snapshot", "save", str(snap))
    assert p.returncode == 0, p.stderr
    old.stop()
    peer = f"http://127.0.0.1:{free_port()}"
    p = petcdctl("snapshot", "restore", str(snap), "--name", "b1",
                 "--data-dir", str(tmp_path / "b1.petcd"), "--initial-cluster", f"b1={peer}",
                 "--initial-advertise-peer-urls", peer)
    assert p.returncode == 0, p.stderr
    new = start_member("b1", extra_args=("--listen-peer-urls", peer,
                                         "--initial-advertise-peer-urls", peer,
                                         "--initial-cluster", f"b1={peer}"))
    # auth is still on, with the same users, roles and permissions
    assert petcdctl("--endpoints", new.url, "get", "a/x").stderr == \
        "Error: etcdserver: user name is empty\n"
    p = petcdctl("--endpoints", new.url, "--user", "alice:apw", "put", "a/x", "1")
    assert p.returncode == 0, p.stderr
    p = petcdctl("--endpoints", new.url, "--user", "alice:apw", "put", "b", "1")
    assert p.stderr == "Error: etcdserver: permission denied\n"
    p = petcdctl("--endpoints", new.url, "--user", "root:rootpw", "user", "list")
    assert p.stdout == "alice\nroot\n"
