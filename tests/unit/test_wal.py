"""The WAL directory: replay, group commit, torn-tail repair, corruption, rolling, release."""
import os
from pathlib import Path

import pytest

from petcd.common.types import ConfState, Entry, HardState, SnapshotMetadata
from petcd.stages.wal import (
    WAL, WALClosed, WALCorrupt, WALError, WALRecordTooLarge, WALSnapshotNotFound,
)
from petcd.stages.wal.segment import RecordType, decode

SEG = 1024


def open_wal(path, **kw):
    kw.setdefault("segment_size_bytes", SEG)
    return WAL.open(path, **kw)


def ents(lo, hi, term=1, size=20):
    return [Entry(term, i, 0, (b"%d-" % i * size)[:size]) for i in range(lo, hi + 1)]


def write(path, batches, **kw):
    """Open, save each batch (a dict of save() kwargs) then sync, close."""
    wal, _ = open_wal(path, **kw)
    for b in batches:
        wal.save(**b)
        wal.sync()
    wal.close()


def reopen(path, **kw):
    wal, replay = open_wal(path, **kw)
    wal.close()
    return replay


@pytest.fixture
def fast_sync(monkeypatch):
    """For the loops that open a WAL dozens of times: the logic under test is the repair, not
    the disk, so fsync/fdatasync only check that they were given an open fd."""
    monkeypatch.setattr(os, "fsync", os.fstat)
    monkeypatch.setattr(os, "fdatasync", os.fstat)


def segment_files(path):
    return sorted(p for p in Path(path).iterdir() if p.name.endswith(".wal"))


def test_create_then_reopen(tmp_path):
    d = tmp_path / "member" / "wal"
    wal, replay = open_wal(d, metadata=b"member=1,cluster=7")
    assert replay.created and replay.entries == [] and replay.repaired is None
    assert replay.snapshot.index == 0 and replay.metadata == b"member=1,cluster=7"
    [seg] = segment_files(d)
    assert seg.name == "0000000000000000-0000000000000000.wal"
    assert seg.stat().st_size == SEG                      # preallocated
    wal.close()
    replay = reopen(d, metadata=b"ignored once created")
    assert not replay.created and replay.metadata == b"member=1,cluster=7"


def test_round_trip(tmp_path):
    marker = SnapshotMetadata(3, 1, ConfState(voters=(1, 2, 3), learners=(4,)))
    write(tmp_path, [
        dict(hard_state=HardState(1, 1, 0), entries=ents(1, 5)),
        dict(snapshot=marker),
        dict(entries=ents(6, 8), hard_state=HardState(1, 1, 5)),
    ])
    replay = reopen(tmp_path)
    assert replay.snapshot == marker
    assert replay.snapshot_markers == [marker]
    assert replay.hard_state == HardState(1, 1, 5)
    assert replay.entries == ents(4, 8)


def test_save_writes_without_syncing_and_sync_is_one_fdatasync(tmp_path, monkeypatch):
    wal, _ = open_wal(tmp_path, segment_size_bytes=1 << 20)
    calls = {"fdatasync": 0, "fsync": 0}
    real_fdatasync, real_fsync = os.fdatasync, os.fsync

    def count(name, real):
        def wrapper(fd):
            calls[name] += 1
            return real(fd)
        return wrapper

    monkeypatch.setattr(os, "fdatasync", count("fdatasync", real_fdatasync))
    monkeypatch.setattr(os, "fsync", count("fsync", real_fsync))
    written = 0
    for i in range(1, 11):   # ten Readies in one batch
        written += wal.save(HardState(1, 1, i - 1), ents(i, i))
    assert calls == {"fdatasync": 0, "fsync": 0}
    assert wal.unsynced_bytes == written > 0
    # saved means handed to the OS: another reader sees the records before any sync
    res = decode(segment_files(tmp_path)[0].read_bytes())
    assert [r.value for r in res.records if r.type == RecordType.ENTRY] == ents(1, 10)
    assert wal.sync() == written
    assert calls == {"fdatasync": 1, "fsync": 0}
    assert wal.sync() == 0                                  # nothing new: no fdatasync
    assert calls["fdatasync"] == 1 and wal.unsynced_bytes == 0
    wal.close()


def test_group_commit_with_a_roll_still_does_one_fdatasync(tmp_path, monkeypatch):
    wal, _ = open_wal(tmp_path)
    calls = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd))[1])
    for i in range(1, 80):
        wal.save(entries=ents(i, i))
    assert wal.offset > SEG
    wal.sync()
    assert len(calls) == 1
    assert len(segment_files(tmp_path)) == 2                  # rolled after the sync
    wal.close()
    assert reopen(tmp_path).entries == ents(1, 79)


def test_hard_state_last_wins(tmp_path):
    write(tmp_path, [dict(hard_state=HardState(t, t % 3, t)) for t in range(1, 6)]
          + [dict(entries=ents(1, 100))] + [dict(hard_state=HardState(9, 2, 50))]
          + [dict(entries=ents(101, 150))])
    assert len(segment_files(tmp_path)) > 2
    assert reopen(tmp_path).hard_state == HardState(9, 2, 50)


def test_overwritten_suffix_replaces_the_earlier_entries(tmp_path):
    write(tmp_path, [
        dict(entries=ents(1, 5, term=1)),
        dict(entries=ents(3, 4, term=2)),          # a new leader overwrote 3..5
        dict(entries=ents(5, 6, term=2)),
    ])
    assert reopen(tmp_path).entries == ents(1, 2, 1) + ents(3, 6, 2)


def test_overwrite_reaching_back_into_an_earlier_segment(tmp_path):
    batches = [dict(entries=ents(i, i + 9)) for i in range(1, 121, 10)]
    batches.append(dict(entries=ents(15, 17, term=2)))
    write(tmp_path, batches)
    assert len(segment_files(tmp_path)) >= 3
    assert reopen(tmp_path).entries == ents(1, 14, 1) + ents(15, 17, 2)


def test_rolling_across_segments_and_replay(tmp_path):
    write(tmp_path, [dict(entries=ents(i, i + 6), hard_state=HardState(1, 1, i))
                     for i in range(1, 400, 7)])
    files = segment_files(tmp_path)
    assert len(files) >= 5
    prev_last = 0
    for n, f in enumerate(files):
        seq, first_index = (int(x, 16) for x in f.name[:-4].split("-"))
        assert seq == n
        buf = f.read_bytes()
        res = decode(buf)
        assert res.error is None
        idx = [r.value.index for r in res.records if r.type == RecordType.ENTRY]
        if n:
            assert first_index == prev_last + 1
            assert idx[:1] in ([], [first_index])  # the last segment may be fresh and empty
        if f != files[-1]:
            assert res.valid_end == len(buf)      # finished segments are cut to their records
        prev_last = idx[-1] if idx else prev_last
    replay = reopen(tmp_path)
    assert replay.entries == ents(1, 399)
    assert replay.hard_state == HardState(1, 1, 393)


def _last_record(path):
    """(file, offset, end) of the last record in the last segment."""
    f = segment_files(path)[-1]
    res = decode(f.read_bytes())
    last = res.records[-1]
    return f, last.offset, res.valid_end


def _check_repaired_and_usable(path, expect, k):
    wal, replay = open_wal(path)
    assert replay.entries == expect, k
    wal.save(entries=[Entry(3, expect[-1].index + 1, 0, b"after repair")])
    wal.sync()
    wal.close()
    replay2 = reopen(path)
    assert replay2.repaired is None, k
    assert replay2.entries == expect + [Entry(3, expect[-1].index + 1, 0, b"after repair")]
    return replay


def test_torn_tail_at_every_byte_of_the_last_record_is_repaired(tmp_path, fast_sync):
    write(tmp_path, [dict(entries=ents(1, 5)), dict(entries=ents(6, 6))])
    f, start, end = _last_record(tmp_path)
    pristine = f.read_bytes()
    for k in range(end - start):
        f.write_bytes(pristine[:start + k] + bytes(len(pristine) - start - k))
        replay = _check_repaired_and_usable(tmp_path, ents(1, 5), k)
        if k == 0:
            assert replay.repaired is None
        else:
            assert replay.repaired.offset == start and replay.repaired.path == str(f)
            assert replay.repaired.discarded_bytes == len(pristine[start:start + k].rstrip(b"\0"))
            assert (tmp_path / f"{f.name}.{start:x}.broken").exists()


def test_garbled_last_record_is_repaired(tmp_path, fast_sync):
    write(tmp_path, [dict(entries=ents(1, 5)), dict(entries=ents(6, 6))])
    f, start, end = _last_record(tmp_path)
    pristine = f.read_bytes()
    for k in range(start, end):
        bad = bytearray(pristine)
        bad[k] ^= 0x5A
        f.write_bytes(bad)
        replay = _check_repaired_and_usable(tmp_path, ents(1, 5), k)
        assert replay.repaired.offset == start


def test_flipped_byte_in_a_middle_record_refuses_to_start(tmp_path, fast_sync):
    write(tmp_path, [dict(entries=ents(1, 3)), dict(entries=ents(4, 6))])
    f = segment_files(tmp_path)[-1]
    pristine = f.read_bytes()
    rec = [r for r in decode(pristine).records if r.type == RecordType.ENTRY][2]   # index 3
    size = 9 + 17 + 20
    for k in range(rec.offset, rec.offset + size):
        bad = bytearray(pristine)
        bad[k] ^= 0xFF
        f.write_bytes(bad)
        with pytest.raises(WALCorrupt) as info:
            open_wal(tmp_path)
        assert info.value.path == str(f) and info.value.offset == rec.offset, k
        assert str(f) in str(info.value) and f"offset {rec.offset}" in str(info.value)
    f.write_bytes(pristine)
    assert reopen(tmp_path).entries == ents(1, 6)        # the refusals changed nothing


def test_damage_in_a_finished_segment_is_never_treated_as_torn(tmp_path):
    write(tmp_path, [dict(entries=ents(i, i + 9)) for i in range(1, 101, 10)])
    first = segment_files(tmp_path)[0]
    buf = bytearray(first.read_bytes())
    last = decode(bytes(buf)).records[-1].offset          # even its very last record
    buf[last + 12] ^= 1
    first.write_bytes(buf)
    with pytest.raises(WALCorrupt) as info:
        open_wal(tmp_path)
    assert info.value.path == str(first) and info.value.offset == last


def test_damaged_header_of_the_last_segment_is_corruption(tmp_path):
    write(tmp_path, [])
    f = segment_files(tmp_path)[0]
    buf = bytearray(f.read_bytes())
    meta = decode(bytes(buf)).records[1].offset
    buf[meta + 10] ^= 1
    f.write_bytes(buf)
    with pytest.raises(WALCorrupt) as info:
        open_wal(tmp_path)
    assert info.value.offset == meta


def test_damaged_header_hard_state_of_a_rolled_segment_is_corruption(tmp_path):
    wal, _ = open_wal(tmp_path)
    wal.save(hard_state=HardState(4, 2, 0))
    i = 1
    while len(wal.segments) == 1:          # stop right after a roll: a header-only segment
        wal.save(entries=ents(i, i + 9))
        wal.sync()
        i += 10
    wal.close()
    f = segment_files(tmp_path)[-1]
    buf = bytearray(f.read_bytes())
    res = decode(bytes(buf))
    assert len(res.records) == 3            # crc, metadata, hard state: nothing after it
    hs = res.records[2]
    assert hs.type == RecordType.HARD_STATE and hs.value == HardState(4, 2, 0)
    buf[hs.offset + 12] ^= 1
    f.write_bytes(buf)
    with pytest.raises(WALCorrupt) as info:
        open_wal(tmp_path)
    assert info.value.path == str(f) and info.value.offset == hs.offset


def test_snapshot_marker_is_where_replay_starts(tmp_path):
    m3, m6 = SnapshotMetadata(3, 1), SnapshotMetadata(6, 1)
    write(tmp_path, [dict(entries=ents(1, 10)), dict(snapshot=m3), dict(snapshot=m6)])
    replay = reopen(tmp_path)
    assert replay.snapshot == m6 and replay.entries == ents(7, 10)
    assert replay.snapshot_markers == [m3, m6]
    older = reopen(tmp_path, snapshot=m3)               # the newest .snap file was unusable
    assert older.snapshot == m3 and older.entries == ents(4, 10)
    with pytest.raises(WALSnapshotNotFound):
        open_wal(tmp_path, snapshot=SnapshotMetadata(4, 1))
    with pytest.raises(WALSnapshotNotFound):
        open_wal(tmp_path, snapshot=SnapshotMetadata(6, 2))


def test_local_snapshot_keeps_the_entries_after_it(tmp_path):
    write(tmp_path, [dict(entries=ents(1, 10)), dict(snapshot=SnapshotMetadata(8, 1)),
                     dict(entries=ents(11, 12))])
    assert reopen(tmp_path).entries == ents(9, 12)


def test_received_snapshot_that_conflicts_with_the_log_resets_it(tmp_path):
    # Our log has 1..10 at term 1; the leader's snapshot says index 8 has term 2: raft threw
    # our log away, so the stale 9 and 10 must not come back on replay.
    write(tmp_path, [dict(entries=ents(1, 10)), dict(snapshot=SnapshotMetadata(8, 2))])
    replay = reopen(tmp_path)
    assert replay.snapshot.index == 8 and replay.entries == []
    write(tmp_path, [dict(entries=ents(9, 9, term=2))])
    assert reopen(tmp_path).entries == ents(9, 9, term=2)


def test_received_snapshot_beyond_the_log(tmp_path):
    m = SnapshotMetadata(20, 3, ConfState(voters=(1, 2, 3)))
    write(tmp_path, [dict(entries=ents(1, 5)),
                     dict(snapshot=m, entries=ents(21, 22, term=3),
                          hard_state=HardState(3, 0, 20))])
    replay = reopen(tmp_path)
    assert (replay.snapshot, replay.entries, replay.hard_state) == (
        m, ents(21, 22, term=3), HardState(3, 0, 20))


def _segment_entries(f):
    res = decode(f.read_bytes())
    return ([r.value.index for r in res.records if r.type == RecordType.ENTRY],
            [r.value for r in res.records if r.type == RecordType.SNAPSHOT])


def test_release_to_removes_only_segments_a_replay_cannot_need(tmp_path):
    hs = HardState(1, 2, 0)
    batches = [dict(entries=ents(1, 1), hard_state=hs)]
    batches += [dict(entries=ents(i, i + 9)) for i in range(2, 120, 10)]
    batches += [dict(snapshot=SnapshotMetadata(95, 1))]
    batches += [dict(entries=ents(i, i + 9)) for i in range(122, 200, 10)]
    write(tmp_path, batches)
    before = reopen(tmp_path)
    files = segment_files(tmp_path)
    content = {f: _segment_entries(f) for f in files}
    holder = next(n for n, f in enumerate(files) if content[f][1])
    assert holder >= 3

    wal, _ = open_wal(tmp_path)
    assert wal.release_to(94) == []                 # no snapshot marker at or below 94
    removed = wal.release_to(180)
    wal.close()
    assert removed and removed == files[:len(removed)]
    for f in removed:
        assert files.index(f) < holder and max(content[f][0]) <= 95
    kept_first = files[len(removed)]
    assert files.index(kept_first) == holder or max(content[kept_first][0]) > 95
    assert segment_files(tmp_path) == files[len(removed):]
    after = reopen(tmp_path)
    assert (after.snapshot, after.hard_state, after.entries) == (
        before.snapshot, before.hard_state, before.entries)
    assert after.hard_state == hs                 # carried in every segment header


def test_release_keeps_applied_entries_above_the_snapshot(tmp_path):
    # The snapshot lags: entries 40..80 are applied but only the snapshot at 30 exists, so
    # segments holding entries above 30 must stay even though index 80 is durable.
    batches = [dict(entries=ents(i, i + 9)) for i in range(1, 81, 10)]
    batches += [dict(snapshot=SnapshotMetadata(30, 1))]
    write(tmp_path, batches)
    files = segment_files(tmp_path)
    content = {f: _segment_entries(f) for f in files}
    wal, _ = open_wal(tmp_path)
    removed = wal.release_to(80)
    wal.close()
    assert removed                                  # segments wholly below 30 do go
    for f in files:
        if f in removed:
            assert max(content[f][0]) <= 30
        else:
            assert max(content[f][0], default=0) > 30 or content[f][1]
    assert reopen(tmp_path).entries == ents(31, 80)


def test_never_releases_the_segment_being_written(tmp_path):
    write(tmp_path, [dict(entries=ents(1, 3)), dict(snapshot=SnapshotMetadata(3, 1))])
    wal, _ = open_wal(tmp_path)
    assert wal.release_to(3) == []
    wal.close()


def test_record_too_large_writes_nothing(tmp_path):
    wal, _ = open_wal(tmp_path, max_record_bytes=100)
    wal.save(entries=ents(1, 1))
    offset = wal.offset
    with pytest.raises(WALRecordTooLarge):
        wal.save(hard_state=HardState(2, 1, 1), entries=[Entry(1, 2, 0, b"x" * 200)])
    assert wal.offset == offset and wal.last_index == 1
    wal.save(entries=ents(2, 2))
    wal.close()
    replay = reopen(tmp_path)
    assert replay.entries == ents(1, 2) and replay.hard_state == HardState()


def test_entries_that_would_leave_a_gap_are_rejected(tmp_path):
    wal, _ = open_wal(tmp_path)
    wal.save(entries=ents(1, 3))
    with pytest.raises(ValueError):
        wal.save(entries=ents(5, 6))
    with pytest.raises(ValueError):
        wal.save(entries=[ents(4, 4)[0], ents(6, 6)[0]])
    wal.close()


def test_a_missing_middle_segment_is_corruption(tmp_path):
    write(tmp_path, [dict(entries=ents(i, i + 9)) for i in range(1, 101, 10)])
    files = segment_files(tmp_path)
    files[1].unlink()
    with pytest.raises(WALCorrupt) as info:
        open_wal(tmp_path)
    assert info.value.path == str(files[2])


def test_missing_entries_after_the_snapshot_are_detected(tmp_path):
    write(tmp_path, [dict(entries=ents(i, i + 9)) for i in range(1, 101, 10)])
    segment_files(tmp_path)[0].unlink()    # entries 1.. gone with no snapshot to cover them
    with pytest.raises(WALCorrupt, match="are missing"):
        open_wal(tmp_path)


def test_one_writer_per_directory(tmp_path):
    wal, _ = open_wal(tmp_path)
    with pytest.raises(WALError, match="locked"):
        open_wal(tmp_path)
    wal.close()
    reopen(tmp_path)


def test_leftover_temporary_segment_is_discarded(tmp_path):
    write(tmp_path, [dict(entries=ents(1, 3))])
    (tmp_path / "0000000000000001-0000000000000004.wal.tmp").write_bytes(b"half a header")
    assert reopen(tmp_path).entries == ents(1, 3)
    assert not list(tmp_path.glob("*.tmp"))


def test_a_failed_fdatasync_closes_the_wal(tmp_path, monkeypatch):
    wal, _ = open_wal(tmp_path)
    wal.save(entries=ents(1, 1))

    def fail(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", fail)
    with pytest.raises(OSError):
        wal.sync()
    monkeypatch.undo()
    with pytest.raises(WALClosed):
        wal.save(entries=ents(2, 2))
    with pytest.raises(WALClosed):
        wal.sync()
    reopen(tmp_path)          # the lock was released: a restart can replay


def test_dropping_the_unsynced_tail_leaves_what_was_synced(tmp_path):
    """What the wal.lose_unsynced failpoint leaves behind: a power cut's WAL."""
    d = tmp_path / "wal"
    wal, _ = open_wal(d, segment_size_bytes=64 * 1024)
    wal.save(HardState(1, 1, 3), ents(1, 3))
    wal.sync()
    wal.save(HardState(2, 2, 5), ents(4, 5, term=2))
    assert wal.drop_unsynced() > 0
    wal.close()
    replay = reopen(d, segment_size_bytes=64 * 1024)
    assert [e.index for e in replay.entries] == [1, 2, 3]
    assert replay.hard_state == HardState(1, 1, 3)
