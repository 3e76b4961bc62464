"""`petcdctl snapshot restore` without processes: the data dir it makes, the first start of a
member on it (raft's bootstrap on an empty WAL, applied by the apply stage's Applier), and
etcdctl's checks and messages."""
from __future__ import annotations

import json
import os

import pytest

from petcd.common import codec, identity
from petcd.common.config import load
from petcd.common.kv import PutRequest, RangeRequest
from petcd.common.layout import db_dir, identity_path
from petcd.common.pipeline import InternalRequest, MemberInfo, Recovered
from petcd.common.types import EMPTY_HARD_STATE
from petcd.ctl.cli import _load_commands, run
from petcd.stages.apply import schema
from petcd.stages.apply.applier import Applier
from petcd.stages.apply.mvcc import MvccStore
from petcd.stages.raft.loop import build_node
from petcd.supervisor import restore as rs
from tests.unit.test_snapshot_status import build_store, copy_to_file

_load_commands()

CLUSTER = "a=http://127.0.0.1:7001,b=http://127.0.0.1:7002,c=http://127.0.0.1:7003"


def ident_of(name: str, cluster: str = CLUSTER, token: str = "etcd-cluster"):
    url = dict(x.split("=", 1) for x in cluster.split(","))[name]
    return rs.new_identity(name, cluster, token, [url])


@pytest.fixture
def snap(tmp_path):
    """A snapshot of a store that was a member of another cluster (old members, a removed id),
    and what the store held."""
    db = str(tmp_path / "db")
    build_store(db)
    store = MvccStore.open(db)
    with store.batch(store.applied_index() + 1) as b:
        b.member_put(MemberInfo(99, "old", ("http://old:1",)))
        b.member_put(MemberInfo(98, "gone", ("http://old:2",)))
        b.member_remove(98)
    old = {"applied": store.applied_index(), "kvs": store.range(RangeRequest(b"\0", b"\0")),
           "hash_kv": store.hash_kv(), "leases": store.lease_rows()}
    store.close()
    path = str(tmp_path / "snap.db")
    copy_to_file(db, path)
    return path, old


def test_the_data_dir_holds_the_snapshot_as_a_store_of_the_new_cluster(tmp_path, snap):
    path, old = snap
    data_dir = str(tmp_path / "a.petcd")
    ident = ident_of("a")
    rs.restore(path, data_dir, ident)

    assert identity.load(data_dir) == ident
    assert len(ident.members) == 3 and not any(m.client_urls for m in ident.members)
    assert sorted(os.listdir(os.path.join(data_dir, "member"))) == \
        ["db", "identity.json", "snap", "version", "wal"]
    assert os.listdir(os.path.join(data_dir, "member", "wal")) == []
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no temp dir left
    store = MvccStore.open(db_dir(data_dir))
    try:
        assert old["applied"] > 0 and store.applied_index() == store.applied_term() == 0
        assert store.membership() == ([], [])
        assert store.cluster_ids() == (ident.cluster_id, ident.member_id)
        assert store.range(RangeRequest(b"\0", b"\0")) == old["kvs"]
        assert store.hash_kv() == old["hash_kv"]    # revisions and compaction too
        assert store.lease_rows() == old["leases"]
    finally:
        store.close()


def start_once(data_dir: str, name: str):
    """What the first start of a member does, minus the processes: raft builds its node from an
    empty WAL and the store's applied index, and apply applies what it commits."""
    cfg = load({"name": name, "data_dir": data_dir}, env={})
    store = MvccStore.open(db_dir(data_dir))
    ident = identity.load(data_dir)
    applier = Applier(store, ident.member_id)
    node = build_node(cfg, Recovered(None, EMPTY_HARD_STATE, ()), store.applied_index(), ident)

    def settle():
        while True:
            out = node.flush()
            for batch in out.applies:
                applier.apply([batch])
                node.applied_to(batch.entries[-1].index)
            if not out.appends and not out.applies:
                return
            for req in out.appends:
                node.append_done(req.seq)
    return store, applier, node, ident, settle


def test_the_first_start_records_the_new_members_and_goes_on_from_the_snapshot(tmp_path, snap):
    path, old = snap
    data_dir = str(tmp_path / "solo.petcd")
    rs.restore(path, data_dir, rs.new_identity("solo", "solo=http://127.0.0.1:7009",
                                               "tok", ["http://127.0.0.1:7009"]))
    store, applier, node, ident, settle = start_once(data_dir, "solo")
    try:
        revision = store.current_revision()
        settle()
        # The bootstrap's conf change (index 1) was applied, not skipped as one at or below
        # the old cluster's applied index would have been.
        assert store.applied_index() == 1
        assert store.membership() == (list(ident.members), [])
        node.rawnode.campaign()
        settle()
        assert node.rawnode.raft.lead == ident.member_id
        req = InternalRequest(1, ident.member_id, PutRequest(b"after", b"restore"))
        node.rawnode.propose(codec.encode(req))
        settle()
        assert store.current_revision() == revision + 1
        assert store.get(b"after").create_revision == revision + 1
        assert store.get(b"k00") == next(kv for kv in old["kvs"].kvs if kv.key == b"k00")
    finally:
        store.close()


def test_without_the_reset_the_new_members_would_be_skipped(tmp_path, snap):
    """Why restore resets the applied index: apply skips the entries at or below it."""
    path, old = snap
    data_dir = str(tmp_path / "solo.petcd")
    rs.restore(path, data_dir, rs.new_identity("solo", "solo=http://127.0.0.1:7009",
                                               "tok", ["http://127.0.0.1:7009"]))
    store = MvccStore.open(db_dir(data_dir))
    with store._env.begin(write=True) as txn:
        schema.meta_put(txn, store._dbs, schema.M_APPLIED_INDEX, old["applied"])
    store.close()
    store, _, _, _, settle = start_once(data_dir, "solo")
    try:
        settle()
        assert store.membership() == ([], []) and store.applied_index() == old["applied"]
    finally:
        store.close()


def test_members_restored_with_the_same_flags_agree(tmp_path, snap):
    path, _ = snap
    idents = {n: ident_of(n) for n in "abc"}
    assert len({i.cluster_id for i in idents.values()}) == 1
    assert len({i.member_id for i in idents.values()}) == 3
    assert all(i.members == idents["a"].members for i in idents.values())
    hashes = set()
    for n, ident in idents.items():
        rs.restore(path, str(tmp_path / f"{n}.petcd"), ident)
        store = MvccStore.open(db_dir(str(tmp_path / f"{n}.petcd")))
        hashes.add(store.hash())
        store.close()
    assert len(hashes) == 1
    # A different token is a different cluster.
    assert ident_of("a", token="other").cluster_id != idents["a"].cluster_id


def test_an_existing_data_dir_is_refused_even_empty(tmp_path, snap):
    path, _ = snap
    (tmp_path / "x").mkdir()
    with pytest.raises(rs.SnapshotError, match=rf'^data-dir "{tmp_path}/x" exists$'):
        rs.restore(path, str(tmp_path / "x"), ident_of("a"))
    assert os.listdir(tmp_path / "x") == []


def test_digest_checks(tmp_path, snap):
    path, _ = snap
    with open(path, "r+b") as f:   # one bit of the store
        f.seek(4100)
        b = f.read(1)
        f.seek(4100)
        f.write(bytes([b[0] ^ 1]))
    with pytest.raises(rs.SnapshotError, match=r"^expected sha256 \["):
        rs.restore(path, str(tmp_path / "r1"), ident_of("a"))
    assert not os.path.exists(tmp_path / "r1")
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []
    bare = tmp_path / "bare.db"
    bare.write_bytes(open(path, "rb").read()[:-32])
    with pytest.raises(rs.SnapshotError,
                       match=r"^snapshot missing hash but --skip-hash-check=false$"):
        rs.restore(str(bare), str(tmp_path / "r2"), ident_of("a"))
    assert not os.path.exists(tmp_path / "r2")
    # --skip-hash-check takes a bare store (a copy of member/db/data.mdb), and a digest is
    # then dropped unchecked.
    rs.restore(path, str(tmp_path / "r3"), ident_of("a"), skip_hash_check=True)
    copy_to_file(str(tmp_path / "db"), str(bare), digest=False)
    rs.restore(str(bare), str(tmp_path / "r4"), ident_of("a"), skip_hash_check=True)
    for d in ("r3", "r4"):
        assert os.path.getsize(tmp_path / d / "member" / "db" / "data.mdb") > 0


def test_a_file_that_is_not_a_whole_petcd_store_leaves_nothing(tmp_path, snap):
    path, _ = snap
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096 * 3))
    with pytest.raises(rs.SnapshotError, match="is not a petcd snapshot"):
        rs.restore(str(junk), str(tmp_path / "r"), ident_of("a"), skip_hash_check=True)
    cut = tmp_path / "cut.db"
    cut.write_bytes(open(path, "rb").read()[:-32 - 4096])
    with pytest.raises(rs.SnapshotError, match="is truncated"):
        rs.restore(str(cut), str(tmp_path / "r"), ident_of("a"), skip_hash_check=True)
    assert sorted(os.listdir(tmp_path)) == ["cut.db", "db", "junk.db", "snap.db"]


@pytest.mark.parametrize("args, message", [
    (["--name", "x"], 'couldn\'t find local name "x" in the initial cluster configuration'),
    (["--name", "a", "--initial-cluster", "a=http://127.0.0.1:1"],
     "--initial-cluster has a=http://127.0.0.1:1 but missing from "
     "--initial-advertise-peer-urls=http://localhost:2380 "
     '(resolved urls: "http://localhost:2380" != "http://127.0.0.1:1")'),
    (["--name", "a", "--initial-cluster", "a=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls", "http://127.0.0.1:2380,http://127.0.0.1:2381"],
     "--initial-advertise-peer-urls has http://127.0.0.1:2381 but missing from "
     "--initial-cluster=a=http://127.0.0.1:2380,a=http://127.0.0.1:2381"),
    (["--name", "a", "--initial-cluster", "a=http://127.0.0.1:1,b=http://127.0.0.1:1",
      "--initial-advertise-peer-urls", "http://127.0.0.1:1"],
     "initial cluster a=http://127.0.0.1:1,b=http://127.0.0.1:1 has duplicate url"),
    (["--name", "a", "--initial-cluster", "a"], "URL scheme must be http, https, unix, or "
                                                 "unixs: "),
    (["--initial-advertise-peer-urls", "foo"],
     "URL scheme must be http, https, unix, or unixs: foo"),
], ids=["name", "advertise", "extra", "duplicate", "no-url", "bad-url"])
def test_flags_are_checked_first_with_etcds_messages(tmp_path, capsys, args, message):
    # etcdctl 3.4.23's messages; the flags are checked before the file is even opened.
    assert run(["snapshot", "restore", str(tmp_path / "nope.db"), "--data-dir",
                str(tmp_path / "d"), *args]) == 1
    assert capsys.readouterr().err == f"Error: {message}\n"
    assert os.listdir(tmp_path) == []


def test_the_command(tmp_path, snap, capsys, monkeypatch):
    path, _ = snap
    monkeypatch.chdir(tmp_path)
    assert run(["snapshot", "restore", path]) == 0   # --name default, into default.petcd
    cap = capsys.readouterr()
    assert cap.out == ""
    lines = [json.loads(x) for x in cap.err.splitlines()]
    assert [x["msg"] for x in lines] == ["restoring snapshot", "added member",
                                         "restored snapshot"]
    assert lines[0]["data-dir"] == "default.petcd"
    assert lines[1]["added-peer-peer-urls"] == ["http://localhost:2380"]
    ident = identity.load("default.petcd")
    assert lines[1]["cluster-id"] == f"{ident.cluster_id:x}" == "cdf818194e3a8c32"  # as etcd's
    assert os.path.exists(identity_path("default.petcd"))
    assert run(["snapshot", "restore", path]) == 1
    assert capsys.readouterr().err == 'Error: data-dir "default.petcd" exists\n'
    assert run(["snapshot", "restore"]) == 128
    assert capsys.readouterr().err == "Error: snapshot restore requires exactly one argument\n"
    assert run(["snapshot", "restore", path, "--data-dir", "w", "--wal-dir", "/elsewhere"]) == 4
    assert "--wal-dir is not supported" in capsys.readouterr().err
    assert run(["snapshot", "restore", path, "--data-dir", "w", "--wal-dir",
                "w/member/wal"]) == 0
    assert run(["snapshot", "restore", "nope.db", "--data-dir", "n"]) == 1
    assert capsys.readouterr().err.endswith("Error: open nope.db: no such file or directory\n")
    store = MvccStore.open(db_dir("w"))
    assert store.applied_index() == 0
    store.close()
