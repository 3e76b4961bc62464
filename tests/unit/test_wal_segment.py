"""The WAL record format: framing, chained CRC, payloads, and torn-tail versus corruption."""
import random
import struct
import zlib

import pytest

from petcd.common.types import ConfState, Entry, EntryType, HardState, SnapshotMetadata
from petcd.stages.wal.errors import WALRecordTooLarge
from petcd.stages.wal.segment import (
    FORMAT_VERSION, SECTOR_BYTES, Encoder, Metadata, RecordType, decode, is_torn,
)

MAX = 1 << 20


def build(records, hard_state=None, metadata=b"ids", seed=0):
    """A segment's bytes; returns (bytes, offset of each record in `records`, final crc)."""
    enc = Encoder(seed, MAX)
    enc.header(metadata, hard_state)
    offsets = []
    for r in records:
        offsets.append(len(enc.buf))
        if isinstance(r, Entry):
            enc.entry(r)
        elif isinstance(r, HardState):
            enc.hard_state(r)
        else:
            enc.snapshot(r)
    return bytes(enc.buf), offsets, enc.crc


def entries(lo, hi, term=1, size=20):
    return [Entry(term, i, EntryType.NORMAL, bytes([65 + i % 26]) * size)
            for i in range(lo, hi + 1)]


def test_round_trip_every_record_type():
    records = [
        Entry(1, 1, EntryType.NORMAL, b"hello"),
        Entry(1, 2, EntryType.NORMAL, b""),
        Entry(2, 3, EntryType.CONF_CHANGE, b"\x00\x01cc"),
        HardState(term=2, vote=3, commit=2),
        SnapshotMetadata(index=3, term=2, conf_state=ConfState(voters=(1, 2, 3), learners=(9,))),
        SnapshotMetadata(index=4, term=2),
    ]
    buf, offsets, crc = build(records)
    res = decode(buf + bytes(1000))         # the preallocated zeros are a clean end
    assert res.error is None
    assert res.valid_end == len(buf)
    assert res.crc == crc
    assert [r.value for r in res.records] == [0, Metadata(FORMAT_VERSION, 0, b"ids"), *records]
    assert [r.offset for r in res.records[2:]] == offsets
    assert res.header_end == offsets[0]


def test_header_hard_state_belongs_to_the_header():
    hs = HardState(5, 2, 7)
    buf, offsets, _ = build(entries(1, 2), hard_state=hs)
    res = decode(buf)
    assert [r.type for r in res.records[:3]] == [RecordType.CRC, RecordType.METADATA,
                                                 RecordType.HARD_STATE]
    assert res.records[2].value == hs
    assert res.header_end == offsets[0] == res.records[3].offset


def test_on_disk_layout_is_length_crc_type_payload_little_endian():
    e = Entry(term=7, index=42, type=EntryType.NORMAL, data=b"abc")
    buf, offsets, _ = build([e])
    off = offsets[0]
    meta_off = decode(buf).records[1].offset
    prev_crc = struct.unpack_from("<I", buf, meta_off + 4)[0]   # the chain: metadata's crc
    payload = struct.pack("<QQB", 7, 42, 0) + b"abc"
    length, crc, rtype = struct.unpack_from("<IIB", buf, off)
    assert (length, rtype) == (len(payload), RecordType.ENTRY)
    assert buf[off + 9:off + 9 + length] == payload
    assert crc == zlib.crc32(bytes([RecordType.ENTRY]) + payload, prev_crc)


def test_chained_crc_detects_reordered_records():
    records = entries(1, 4)
    buf, offsets, _ = build(records)
    a, b, end = offsets[1], offsets[2], offsets[3]
    swapped = buf[:a] + buf[b:end] + buf[a:b] + buf[end:]   # same-size records, swapped
    res = decode(swapped)
    assert res.error is not None and res.error.offset == a
    assert res.error.reason == "crc mismatch"
    assert [r.value for r in res.records[2:]] == records[:1]


def test_crc_chain_continues_across_segments():
    first, _, crc = build(entries(1, 3))
    second, _, _ = build(entries(4, 6), seed=crc)
    assert decode(second, prev_crc=crc).error is None
    res = decode(second, prev_crc=crc ^ 1)   # a segment missing in between, or swapped
    assert res.error.offset == 0 and res.error.crc_valid
    assert "crc chain broken" in res.error.reason


def test_a_segment_must_start_with_a_crc_record():
    buf, offsets, _ = build(entries(1, 2))
    res = decode(buf[offsets[0]:])
    assert res.error.offset == 0
    assert "does not start with a crc record" in res.error.reason


def test_record_over_max_record_bytes_is_rejected_before_anything_is_framed():
    enc = Encoder(0, max_record_bytes=100)
    enc.entry(Entry(1, 1, 0, b"x" * (100 - 17)))       # exactly the limit: accepted
    before, crc = bytes(enc.buf), enc.crc
    with pytest.raises(WALRecordTooLarge) as info:
        enc.entry(Entry(1, 2, 0, b"x" * (101 - 17)))
    assert info.value.size == 101 and info.value.max_record_bytes == 100
    assert bytes(enc.buf) == before and enc.crc == crc


def _frame(rtype, payload, prev_crc):
    crc = zlib.crc32(bytes([rtype]) + payload, prev_crc)
    return struct.pack("<IIB", len(payload), crc, rtype) + payload


def test_well_framed_but_meaningless_records_are_never_torn():
    buf, _, crc = build([])
    res = decode(buf + _frame(9, b"zz", crc))
    assert res.error.offset == len(buf) and res.error.crc_valid
    assert "unknown record type 9" in res.error.reason
    res = decode(buf + _frame(RecordType.HARD_STATE, b"short", crc))
    assert res.error.crc_valid and "bad hard_state payload" in res.error.reason
    # a newer format version is refused, not misread
    seed = _frame(RecordType.CRC, struct.pack("<I", 0), 0)
    meta = _frame(RecordType.METADATA, struct.pack("<HB", FORMAT_VERSION + 1, 0),
                  struct.unpack_from("<I", seed, 4)[0])
    res = decode(seed + meta)
    assert res.error.crc_valid and "unsupported wal format version 2" in res.error.reason


def test_record_cut_at_every_byte_of_the_last_record_is_torn():
    buf, offsets, _ = build(entries(1, 5))
    last = offsets[-1]
    for k in range(len(buf) - last):
        torn = buf[:last + k] + bytes(2048)     # what was written, then preallocated zeros
        res = decode(torn)
        assert res.valid_end == last
        if k == 0:
            assert res.error is None
            continue
        assert res.error is not None and res.error.offset == last and not res.error.crc_valid
        assert is_torn(torn, last, max_record_bytes=MAX), k


def test_garbled_last_record_is_torn_at_every_byte():
    buf, offsets, _ = build(entries(1, 5))
    last = offsets[-1]
    for k in range(last, len(buf)):
        bad = bytearray(buf + bytes(2048))
        bad[k] ^= 0xFF
        bad = bytes(bad)
        res = decode(bad)
        assert res.error is not None and res.error.offset == last, k
        assert is_torn(bad, last, max_record_bytes=MAX), k


def test_flipped_byte_in_a_middle_record_is_corruption_at_every_byte():
    buf, offsets, _ = build(entries(1, 6))
    middle, end = offsets[2], offsets[3]
    for k in range(middle, end):
        bad = bytearray(buf + bytes(2048))
        bad[k] ^= 0xFF
        bad = bytes(bad)
        res = decode(bad)
        assert res.error is not None and res.error.offset == middle, k
        assert not is_torn(bad, middle, max_record_bytes=MAX), k


def test_random_damage_to_the_length_word_of_a_middle_record_is_corruption():
    rng = random.Random(7)
    buf, offsets, _ = build(entries(1, 6))
    middle = offsets[2]
    for _ in range(200):
        bad = bytearray(buf + bytes(2048))
        i = middle + rng.randrange(4)
        bad[i] = rng.choice([v for v in range(256) if v != bad[i]])
        bad = bytes(bad)
        assert decode(bad).error.offset == middle
        assert not is_torn(bad, middle, max_record_bytes=MAX)


def test_a_sector_that_never_reached_the_disk_is_torn_even_with_data_after_it():
    # An unsynced batch whose pages were flushed out of order: a whole sector inside a big
    # record is still zero, while later records made it to disk.
    records = entries(1, 2) + [Entry(1, 3, 0, b"y" * 3000)] + entries(4, 6)
    buf, offsets, _ = build(records)
    big = offsets[2]
    s = (big // SECTOR_BYTES + 2) * SECTOR_BYTES
    assert s + SECTOR_BYTES < offsets[3]
    bad = buf[:s] + bytes(SECTOR_BYTES) + buf[s + SECTOR_BYTES:] + bytes(1024)
    res = decode(bad)
    assert res.error.offset == big
    assert is_torn(bad, big, max_record_bytes=MAX)


def test_a_lost_first_sector_with_later_data_is_torn():
    records = entries(1, 2, size=600) + entries(3, 4, size=600)
    buf, offsets, _ = build(records)
    start = offsets[2]
    sector_end = (start // SECTOR_BYTES + 1) * SECTOR_BYTES
    bad = buf[:start] + bytes(sector_end - start) + buf[sector_end:] + bytes(1024)
    res = decode(bad)
    assert res.error.offset == start and "zero length word" in res.error.reason
    assert is_torn(bad, start, max_record_bytes=MAX)


def test_header_cut_short_by_end_of_file():
    buf, offsets, _ = build(entries(1, 3))
    cut = buf[:offsets[-1] + 5]        # no preallocation: the file just ends
    res = decode(cut)
    assert res.error.offset == offsets[-1]
    assert is_torn(cut, offsets[-1], max_record_bytes=MAX)
