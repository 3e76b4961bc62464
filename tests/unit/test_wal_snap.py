"""Snapshot files: atomic write, load, skip corrupt ones, purge."""
import struct

import pytest

from petcd.common.types import ConfState, Snapshot, SnapshotMetadata
from petcd.stages.wal import SnapCorrupt, Snapshotter
from petcd.stages.wal.segment import encode_snapshot_metadata
from petcd.stages.wal.snap import encode_snapshot


def snap(index, term=1, data=None):
    meta = SnapshotMetadata(index, term, ConfState(voters=(1, 2, 3), learners=(4,)))
    return Snapshot(metadata=meta, data=data if data is not None else b"state@%d" % index)


def test_save_and_load_round_trip(tmp_path):
    s = Snapshotter(tmp_path / "member" / "snap")
    path = s.save(snap(42, term=3, data=b"\x00" * 1000 + b"db"))
    assert path.name == "0000000000000003-000000000000002a.snap"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]   # no temp file left
    assert s.load(SnapshotMetadata(42, 3)) == snap(42, term=3, data=b"\x00" * 1000 + b"db")
    assert s.load_newest() == snap(42, term=3, data=b"\x00" * 1000 + b"db")


def test_file_layout(tmp_path):
    s = Snapshotter(tmp_path)
    buf = s.save(snap(7)).read_bytes()
    meta = encode_snapshot_metadata(snap(7).metadata)        # the WAL marker's own layout
    magic, version, _crc, meta_len = struct.unpack_from("<4sHII", buf)
    assert (magic, version, meta_len) == (b"PSNP", 1, len(meta))
    assert buf[14:14 + meta_len] == meta and buf[14 + meta_len:] == b"state@7"


def test_load_newest_picks_the_highest_index(tmp_path):
    s = Snapshotter(tmp_path)
    for i in (5, 30, 12):
        s.save(snap(i, term=2 if i == 30 else 1))
    assert s.load_newest().metadata.index == 30
    assert [p.name[-10:-5] for p in s.names()] == ["00005", "0000c", "0001e"]


def test_load_newest_only_among_the_wal_markers(tmp_path):
    s = Snapshotter(tmp_path)
    for i in (5, 12, 30):
        s.save(snap(i))
    markers = [SnapshotMetadata(5, 1), SnapshotMetadata(12, 1)]   # 30: orphan, marker never written
    assert s.load_newest(markers).metadata.index == 12
    assert s.load_newest([SnapshotMetadata(12, 2)]) is None        # wrong term: not a match


@pytest.mark.parametrize("damage", ["flip_data", "flip_header", "truncate", "empty", "magic"])
def test_corrupt_newest_is_skipped(tmp_path, damage):
    s = Snapshotter(tmp_path)
    s.save(snap(5))
    newest = s.save(snap(9))
    buf = bytearray(newest.read_bytes())
    if damage == "flip_data":
        buf[-1] ^= 1
    elif damage == "flip_header":
        buf[8] ^= 1
    elif damage == "truncate":
        del buf[-3:]
    elif damage == "empty":
        del buf[:]
    else:
        buf[:4] = b"XXXX"
    newest.write_bytes(bytes(buf))
    assert s.load_newest() == snap(5)
    with pytest.raises(SnapCorrupt) as info:
        s.load(SnapshotMetadata(9, 1))
    assert info.value.path == str(newest)


def test_a_file_whose_name_does_not_match_its_content_is_corrupt(tmp_path):
    s = Snapshotter(tmp_path)
    s.save(snap(5))
    (tmp_path / "0000000000000001-0000000000000009.snap").write_bytes(encode_snapshot(snap(8)))
    assert s.load_newest() == snap(5)
    with pytest.raises(SnapCorrupt, match="index 8"):
        s.load(SnapshotMetadata(9, 1))


def test_no_snapshot(tmp_path):
    assert Snapshotter(tmp_path / "absent").load_newest() is None
    assert Snapshotter(tmp_path).names() == []
    with pytest.raises(FileNotFoundError):
        Snapshotter(tmp_path).load(SnapshotMetadata(1, 1))
    with pytest.raises(ValueError):
        Snapshotter(tmp_path).save(Snapshot())


def test_purge_keeps_the_newest_n_and_removes_temp_files(tmp_path):
    s = Snapshotter(tmp_path, keep=2)
    for i in (3, 10, 4, 20, 15):
        s.save(snap(i))
    (tmp_path / "0000000000000001-0000000000000063.snap.tmp").write_bytes(b"half")
    removed = s.purge()
    assert sorted(p.name for p in removed) == sorted([
        "0000000000000001-0000000000000003.snap", "0000000000000001-0000000000000004.snap",
        "0000000000000001-000000000000000a.snap", "0000000000000001-0000000000000063.snap.tmp"])
    assert [s.read(p).metadata.index for p in s.names()] == [15, 20]
    assert s.purge(keep=1) == [tmp_path / "0000000000000001-000000000000000f.snap"]
    with pytest.raises(ValueError):
        s.purge(keep=0)
