"""`petcdctl snapshot status` on snapshot files made from an apply-stage store: what it counts,
etcdctl's four formats, the digest check and etcdctl's errors. No processes."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from petcd.common.kv import CompactionRequest
from petcd.ctl.cli import CtlExit, _load_commands, run
from petcd.stages.apply import schema
from petcd.stages.apply.reader import MvccReader
from petcd.supervisor import restore as rs
from tests.unit.mvcc_util import Applier, open_store

_load_commands()
from petcd.ctl.cmd_snapshot import format_status  # noqa: E402  (after the commands load)


def build_store(path: str) -> dict:
    """A store with history, a deletion, a compaction and a lease; what status must report."""
    store = open_store(path)
    apply = Applier(store)
    with store.batch(apply.index + 1) as b:
        b.lease_grant(7, 60)
    apply.index += 1
    for i in range(20):
        apply.put(b"k%02d" % (i % 8), b"v%d" % i)
    apply.put(b"leased", b"x", lease=7)
    apply.delete(b"k03")
    apply("compact", CompactionRequest(10))
    store.run_compaction()
    with store.view() as v:
        rows = sum(v.tx.stat(getattr(store._dbs, n.decode()))["entries"]
                   for n in schema.DATABASES)
    want = {"hash": store.hash(), "revision": store.current_revision(), "rows": rows}
    store.close()
    return want


def copy_to_file(db_path: str, path: str, digest: bool = True) -> int:
    """The store at `db_path` as Maintenance.Snapshot streams it into `path`: the copy, then
    its SHA-256; returns the copy's size."""
    reader = MvccReader.open(db_path)
    with open(path, "wb") as f:
        reader.copy_to(f.fileno())
    reader.close()
    size = os.path.getsize(path)
    if digest:
        with open(path, "rb") as f:
            d = hashlib.sha256(f.read()).digest()
        with open(path, "ab") as f:
            f.write(d)
    return size


def snapshot_file(tmp_path, digest: bool = True) -> tuple[str, dict]:
    want = build_store(str(tmp_path / "db"))
    path = str(tmp_path / "snap.db")
    want["size"] = copy_to_file(str(tmp_path / "db"), path, digest)
    return path, want


def test_status_reports_the_stores_hash_revision_rows_and_size(tmp_path):
    path, want = snapshot_file(tmp_path)
    st = rs.status(path)
    assert st == rs.Status(want["hash"], want["revision"], want["rows"], want["size"])
    assert st.revision == 23 and st.total_size % 4096 == 0
    assert os.path.getsize(path) == st.total_size + 32
    assert sorted(os.listdir(tmp_path)) == ["db", "snap.db"]   # no lock file left beside it


def test_a_bare_store_file_has_no_digest_to_check(tmp_path):
    path, want = snapshot_file(tmp_path, digest=False)
    assert rs.status(path).total_size == want["size"] == os.path.getsize(path)


@pytest.mark.parametrize("where", [-1, 5000], ids=["digest", "store"])
def test_a_digest_mismatch_fails_as_etcd_restore_does(tmp_path, where):
    path, _ = snapshot_file(tmp_path)
    with open(path, "r+b") as f:
        f.seek(where, os.SEEK_END if where < 0 else os.SEEK_SET)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 1]))
    with pytest.raises(rs.SnapshotError, match=r"^expected sha256 \[(\d+ ){31}\d+\], got \["):
        rs.status(path)


def test_a_truncated_bare_store_is_refused_before_lmdb_reads_past_its_end(tmp_path):
    path, want = snapshot_file(tmp_path, digest=False)
    with open(path, "r+b") as f:
        f.truncate(want["size"] - 4096)
    with pytest.raises(rs.SnapshotError, match=r" is truncated: its store has \d+ bytes"):
        rs.status(path)


def test_files_that_are_not_petcd_snapshots(tmp_path):
    with pytest.raises(rs.SnapshotError, match=r"^stat .*/nope: no such file or directory$"):
        rs.status(str(tmp_path / "nope"))
    with pytest.raises(rs.SnapshotError, match=r"^open .*: is a directory$"):
        rs.status(str(tmp_path))
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(8192))
    with pytest.raises(rs.SnapshotError, match=r"is not a petcd snapshot \(.*MDB_INVALID"):
        rs.status(str(garbage))
    bolt = tmp_path / "etcd.db"   # the start of a bbolt meta page: etcdctl snapshot save's file
    bolt.write_bytes(bytes(16) + b"\xed\xda\x0c\xed" + bytes(8172))
    with pytest.raises(rs.SnapshotError, match=r"is an etcd \(bbolt\) snapshot, not a petcd"):
        rs.status(str(bolt))


def test_formats_are_etcdctls():
    # etcdctl 3.4.23's output for a snapshot of an etcd with 5 keys and a lease.
    st = rs.Status(4118140199, 6, 10, 20480)
    assert format_status(st, "simple") == "f575d527, 6, 10, 20 kB\n"
    assert format_status(st, "table") == (
        "+----------+----------+------------+------------+\n"
        "|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n"
        "+----------+----------+------------+------------+\n"
        "| f575d527 |        6 |         10 |      20 kB |\n"
        "+----------+----------+------------+------------+\n")
    assert format_status(st, "json") == \
        '{"hash":4118140199,"revision":6,"totalKey":10,"totalSize":20480}\n'
    assert format_status(st, "fields") == \
        '"Hash" : 4118140199\n"Revision" : 6\n"Keys" : 10\n"Size" : 20480\n'
    assert format_status(rs.Status(0xabc, 1, 9, 2_100_000), "simple") == "abc, 1, 9, 2.1 MB\n"
    with pytest.raises(CtlExit) as e:
        format_status(st, "protobuf")
    assert (e.value.code, e.value.message) == (4, "protobuf not supported as output format")


def test_the_command(tmp_path, capsys):
    path, want = snapshot_file(tmp_path)
    assert run(["snapshot", "status", path, "-w", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "hash": want["hash"], "revision": want["revision"], "totalKey": want["rows"],
        "totalSize": want["size"]}
    assert run(["snapshot", "status"]) == 128
    assert capsys.readouterr().err == "Error: snapshot status requires exactly one argument\n"
    assert run(["snapshot", "status", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err == \
        f"Error: stat {tmp_path / 'nope'}: no such file or directory\n"
