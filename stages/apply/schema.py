"""The LMDB layout of the MVCC store: named databases, their encodings, and opening them.

Theory of operation. One LMDB environment (``member/db/``) holds the whole state machine.
The apply process is its only writer; api processes open it read-only and serve reads from it
(DESIGN.md 1, 4). Every table and byte layout lives here, so the writer, the readers and
compaction agree on one format, versioned by ``meta[schema_version]``.

Named databases (all keys sort bytewise, as LMDB's default memcmp):

``rev``      (main u64 BE, sub u64 BE) -> CHANGE header + key + value. One row per change: a put
             or a tombstone (etcd's backend "key" bucket). History lives here; compaction prunes it.
             The header's u16 key length 0xFFFF means a u32 length follows the header.
``key``      stored key -> dup-sorted 17-byte values (main u64 BE, sub u64 BE, flag u8),
             flag 0 = put, 1 = tombstone; MDB_DUPFIXED. "Latest revision of K at or before R"
             is one ``set_range_dup(K, (R+1, 0, 0))`` then ``prev_dup``; the flag answers
             "deleted at R?" without touching ``rev`` (etcd's in-memory keyIndex, on disk).
``latest``   stored key -> LATEST header + value, only for keys that exist now. A current point
             read is one lookup here; current ranges and counts walk this table alone. Under
             a hashed stored key the header is followed by the key's u32 length and the key.
``meta``     ascii name -> value (u64 BE unless noted): schema_version, applied_index,
             applied_term, revision (current i64 BE + compact i64 BE: one record so a read view
             costs one lookup), finished_compact_revision, compact_cursor (a ``rev`` key: where an
             unfinished compaction resumes), cluster_id, member_id.
``lease``    lease id (i64 BE) -> (granted ttl i64 BE, remaining ttl i64 BE; 0 = never checkpointed).
``lease_keys`` lease id (i64 BE) -> dup-sorted stored keys attached to the lease.
``alarm``    (member id u64 BE, alarm type u32 BE) -> b"" for each active alarm.
``auth``, ``members``: reserved, created empty (auth store, cluster membership come later).

Why struct and not msgpack for the rows: the rows are a fixed header followed by raw bytes, so the
key (compaction) or the value (reads) is a slice, never a decode of the other; packing is about
4x faster than msgpack in CPython (writes are apply's hot path) and unpacking is on par. The header
is fixed-width, so the layout is plain to document and to read from any language.

A stored key is the user key itself, or for a key longer than LMDB allows a prefix and a
digest of it (long_keys.py); tables keyed by user key are keyed by the stored key.

Invariants: a key is in ``latest`` iff its newest ``key`` dup is a put, and then ``latest``
equals that ``rev`` row; every ``key`` dup names an existing ``rev`` row and vice versa.
Must never: change a layout without bumping ``SCHEMA_VERSION`` (and upgrading the older one
in ``init_or_check``, or refusing it); store a row that the key index does not name.

Versions: 1 stored every key as itself (keys were limited to 511 bytes); 2 hashes keys over
510 bytes. Opening a version 1 store upgrades it in place (``upgrade_from_v1``).
"""
from __future__ import annotations

import os
import struct

import lmdb

from petcd.common.kv import KeyValue
from petcd.stages.apply import long_keys
from petcd.stages.apply.long_keys import STORED_MAX_BYTES

SCHEMA_VERSION = 2
# Named databases used today plus room for auth/membership tables to come.
MAX_DBS = 16
DEFAULT_MAX_READERS = 1024
DEFAULT_MAP_SIZE_BYTES = 8 << 30

DB_REV = b"rev"
DB_KEY = b"key"
DB_LATEST = b"latest"
DB_META = b"meta"
DB_LEASE = b"lease"
DB_LEASE_KEYS = b"lease_keys"
DB_ALARM = b"alarm"
DB_AUTH = b"auth"
DB_MEMBERS = b"members"

# name -> open_db flags; readers must pass the same flags as the creator.
DATABASES = {
    DB_REV: {},
    DB_KEY: {"dupsort": True, "dupfixed": True},
    DB_LATEST: {},
    DB_META: {},
    DB_LEASE: {},
    DB_LEASE_KEYS: {"dupsort": True},
    DB_ALARM: {},
    DB_AUTH: {},
    DB_MEMBERS: {},
}

# --- row encodings ---------------------------------------------------------------------------
REV = struct.Struct(">QQ")            # rev key: (main, sub)
IDX = struct.Struct(">QQB")           # key-index dup: (main, sub, flag)
CHANGE = struct.Struct(">BqqqH")      # rev row header: flag, create_revision, version, lease, len(key)
LATEST = struct.Struct(">qqqq")       # latest row header: create_revision, mod_revision, version, lease
U64 = struct.Struct(">Q")
REVISIONS = struct.Struct(">qq")      # meta[revision]: (current, compact)
LEASE_ID = struct.Struct(">q")
LEASE_ROW = struct.Struct(">qq")
ALARM_KEY = struct.Struct(">QI")

FLAG_PUT = 0
FLAG_TOMBSTONE = 1
PUT_SUFFIX = b"\x00"
TOMBSTONE_SUFFIX = b"\x01"

U32 = struct.Struct(">I")
# CHANGE's key length field saying "the length is the u32 after the header".
_LONG = 0xFFFF

_CHANGE_SIZE = CHANGE.size
_LATEST_SIZE = LATEST.size
_change_pack = CHANGE.pack
_change_unpack = CHANGE.unpack_from
_latest_pack = LATEST.pack
_latest_unpack = LATEST.unpack_from
_u64_unpack = U64.unpack_from
_u32_pack = U32.pack
_u32_unpack = U32.unpack_from

# --- meta names ------------------------------------------------------------------------------
M_SCHEMA_VERSION = b"schema_version"
M_APPLIED_INDEX = b"applied_index"
M_APPLIED_TERM = b"applied_term"
M_REVISION = b"revision"
M_FINISHED_COMPACT = b"finished_compact_revision"
M_COMPACT_CURSOR = b"compact_cursor"
M_CLUSTER_ID = b"cluster_id"
M_MEMBER_ID = b"member_id"

# A fresh store is at revision 1 (etcd: the first write yields 2); 0 = never compacted.
INITIAL_REVISION = 1


class Dbs:
    """The open database handles of one environment (valid for the env's lifetime)."""
    __slots__ = ("rev", "key", "latest", "meta", "lease", "lease_keys", "alarm", "auth", "members")

    def __init__(self, handles: dict[bytes, object]):
        for name, handle in handles.items():
            setattr(self, name.decode(), handle)


def _change_head(flag: int, create_revision: int, version: int, lease: int,
                 key: bytes) -> bytes:
    """A ``rev`` row up to and including its key (the key length escaped past 64 KiB)."""
    n = len(key)
    if n < _LONG:
        return _change_pack(flag, create_revision, version, lease, n) + key
    return _change_pack(flag, create_revision, version, lease, _LONG) + _u32_pack(n) + key


def encode_change(key: bytes, value: bytes, create_revision: int, version: int,
                  lease: int) -> bytes:
    return _change_head(FLAG_PUT, create_revision, version, lease, key) + value


def encode_tombstone(key: bytes) -> bytes:
    return _change_head(FLAG_TOMBSTONE, 0, 0, 0, key)


def _change_key_span(n: int, row: bytes) -> tuple[int, int]:
    """Where the key of a ``rev`` row whose header says length ``n`` starts and ends."""
    if n != _LONG:
        return _CHANGE_SIZE, _CHANGE_SIZE + n
    start = _CHANGE_SIZE + 4
    return start, start + _u32_unpack(row, _CHANGE_SIZE)[0]


def change_key(row: bytes) -> bytes:
    """The user key of a ``rev`` row, without decoding the rest."""
    start, end = _change_key_span(_change_unpack(row)[4], row)
    return row[start:end]


def change_is_tombstone(row: bytes) -> bool:
    return row[0] == FLAG_TOMBSTONE


def decode_change(row: bytes, mod_revision: int, with_value: bool = True) -> KeyValue:
    """A ``rev`` row as the KeyValue it wrote (a tombstone gives {key, mod_revision})."""
    flag, create, version, lease, n = _change_unpack(row)
    start, end = _change_key_span(n, row)
    if flag == FLAG_TOMBSTONE:
        return KeyValue(row[start:end], 0, mod_revision, 0, b"", 0)
    return KeyValue(row[start:end], create, mod_revision, version,
                    row[end:] if with_value else b"", lease)


def encode_latest(key: bytes, create_revision: int, mod_revision: int, version: int,
                  lease: int, value: bytes, hashed: bool = False) -> bytes:
    """The ``latest`` row of ``key``; ``hashed``: its stored key is a digest (see module doc)."""
    head = _latest_pack(create_revision, mod_revision, version, lease)
    if hashed:
        return head + _u32_pack(len(key)) + key + value
    return head + value


def decode_latest(key: bytes, row: bytes, with_value: bool = True) -> KeyValue:
    """The KeyValue of a ``latest`` row stored under ``key`` itself (not hashed)."""
    create, mod, version, lease = _latest_unpack(row)
    return KeyValue(key, create, mod, version, row[_LATEST_SIZE:] if with_value else b"", lease)


def decode_latest_stored(stored_key: bytes, row: bytes, with_value: bool = True) -> KeyValue:
    """The KeyValue of a ``latest`` row stored under ``stored_key``, hashed or not."""
    if len(stored_key) != STORED_MAX_BYTES:
        return decode_latest(stored_key, row, with_value)
    create, mod, version, lease = _latest_unpack(row)
    start = _LATEST_SIZE + 4
    end = start + _u32_unpack(row, _LATEST_SIZE)[0]
    return KeyValue(row[start:end], create, mod, version, row[end:] if with_value else b"",
                    lease)


def latest_key(row: bytes) -> bytes:
    """The user key kept in the ``latest`` row of a hashed stored key."""
    start = _LATEST_SIZE + 4
    return row[start:start + _u32_unpack(row, _LATEST_SIZE)[0]]


def idx_main(idx: bytes) -> int:
    """The main revision of a key-index dup value (or a rev key)."""
    return _u64_unpack(idx)[0]


# --- environment -----------------------------------------------------------------------------
def open_env(path: str, map_size_bytes: int, *, readonly: bool, max_readers: int,
             sync: bool = True, metasync: bool = False) -> lmdb.Environment:
    """Open the environment; the writer creates it. One env per path per process (py-lmdb)."""
    env = lmdb.open(
        path, map_size=map_size_bytes, subdir=True, readonly=readonly, lock=True,
        max_dbs=MAX_DBS, max_readers=max_readers, sync=sync, metasync=metasync,
        # Reads are random B-tree walks; OS readahead only pollutes the page cache.
        readahead=False, create=not readonly)
    if env.max_key_size() != STORED_MAX_BYTES:
        # The stored-key format (long_keys.py) is built on this exact limit.
        env.close()
        raise RuntimeError(f"LMDB max key size {env.max_key_size()} != {STORED_MAX_BYTES}")
    return env


def copy_to_fd(env: lmdb.Environment, fd: int) -> None:
    """A consistent copy of the environment (one read transaction's view) into the file `fd`.
    Not compacted: LMDB 0.9.36's compacting copy (MDB_CP_COMPACT, as py-lmdb 3.0 bundles it)
    crashes the process on stores with overflow pages (values over a page)."""
    try:
        env.copyfd(fd)
    except lmdb.MapResizedError:
        env.set_mapsize(0)   # the writer grew the map since we opened it
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        env.copyfd(fd)


def open_dbs(env: lmdb.Environment, *, create: bool) -> Dbs:
    """Open (and, for the writer, create) every named database."""
    handles = {}
    if create:
        with env.begin(write=True) as txn:
            for name, flags in DATABASES.items():
                handles[name] = env.open_db(name, txn=txn, create=True, **flags)
        return Dbs(handles)
    # Read-only: no txn argument. A handle opened inside a read transaction is closed again
    # when that transaction ends (py-lmdb ends read transactions with an abort).
    for name, flags in DATABASES.items():
        try:
            handles[name] = env.open_db(name, create=False, **flags)
        except lmdb.NotFoundError:
            raise RuntimeError(
                f"{env.path()}: database {name.decode()!r} missing; "
                "has the apply stage initialised the store?") from None
    return Dbs(handles)


def meta_get(txn, dbs: Dbs, name: bytes, default: int = 0) -> int:
    raw = txn.get(name, db=dbs.meta)
    return default if raw is None else _u64_unpack(raw)[0]


def meta_put(txn, dbs: Dbs, name: bytes, value: int) -> None:
    txn.put(name, U64.pack(value), db=dbs.meta)


NEVER_COMPACTED = -1


def read_revisions(txn, dbs: Dbs) -> tuple[int, int]:
    raw = txn.get(M_REVISION, db=dbs.meta)
    if raw is None:
        # etcd starts with compactMainRev = -1: the first Compact(0) succeeds, a second fails.
        return INITIAL_REVISION, NEVER_COMPACTED
    return REVISIONS.unpack(raw)


def write_revisions(txn, dbs: Dbs, current: int, compact: int) -> None:
    txn.put(M_REVISION, REVISIONS.pack(current, compact), db=dbs.meta)


def init_or_check(txn, dbs: Dbs) -> None:
    """Stamp a fresh store with the schema version; refuse a store of another version."""
    raw = txn.get(M_SCHEMA_VERSION, db=dbs.meta)
    if raw is None:
        if txn.stat(dbs.rev)["entries"] or txn.stat(dbs.latest)["entries"]:
            raise RuntimeError("store has data but no schema version")
        meta_put(txn, dbs, M_SCHEMA_VERSION, SCHEMA_VERSION)
        write_revisions(txn, dbs, INITIAL_REVISION, NEVER_COMPACTED)
        return
    upgrade(txn, dbs, U64.unpack(raw)[0])


# Versions this build opens: older ones are upgraded in place.
UPGRADABLE_VERSIONS = (1, SCHEMA_VERSION)


def upgrade(txn, dbs: Dbs, version: int) -> None:
    """Bring a store of an older known version to ``SCHEMA_VERSION`` in ``txn``."""
    if version == 1:
        upgrade_from_v1(txn, dbs)
        meta_put(txn, dbs, M_SCHEMA_VERSION, SCHEMA_VERSION)
        return
    check_version(version)


def upgrade_from_v1(txn, dbs: Dbs) -> int:
    """Move keys of exactly 511 bytes, stored as themselves by version 1, to their hashed form;
    returns how many keys moved. One pass over the distinct keys and the lease attachments.

    Every source is read and removed before any target is written: a version 1 key may be
    another one's hashed form (anyone can compute a digest), and moving one onto the other in
    place would merge their histories."""
    moved = [k for k in txn.cursor(db=dbs.key).iternext_nodup()
             if len(k) == STORED_MAX_BYTES]
    rows = []
    cur = txn.cursor(db=dbs.key)
    for key in moved:
        cur.set_key(key)
        dups = list(cur.iternext_dup())
        cur.set_key(key)
        cur.delete(dupdata=True)
        rows.append((key, dups, txn.pop(key, db=dbs.latest)))
    for key, dups, row in rows:
        new = long_keys.stored(key)
        for idx in dups:
            txn.put(new, idx, db=dbs.key, dupdata=True)
        if row is not None:
            create, mod, version, lease = _latest_unpack(row)
            txn.put(new, encode_latest(key, create, mod, version, lease, row[_LATEST_SIZE:],
                                       hashed=True), db=dbs.latest)
    attached = [(lid, k) for lid, k in txn.cursor(db=dbs.lease_keys).iternext()
                if len(k) == STORED_MAX_BYTES]
    for lid, key in attached:
        txn.delete(lid, key, db=dbs.lease_keys)
    for lid, key in attached:
        txn.put(lid, long_keys.stored(key), db=dbs.lease_keys, dupdata=True)
    return len(moved)


def check_version(version: int) -> None:
    if version != SCHEMA_VERSION:
        raise RuntimeError(f"store schema version {version}, this build reads {SCHEMA_VERSION}")
