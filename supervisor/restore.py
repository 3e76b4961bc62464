"""Snapshot files: their status, and a new member's data dir made from one (etcdctl 3.4's
`snapshot status` and `snapshot restore`, which petcdctl runs with this module).

A snapshot file is what Maintenance.Snapshot streams (stages/api/snapshot.py): a consistent
copy of a member's LMDB store, one file as `lmdb.open(path, subdir=False)` reads it, then the
SHA-256 of those bytes. A file whose size is a multiple of 512 plus 32 carries the digest
(etcd's rule; it holds since LMDB's file is whole 4 KiB pages); any other is a bare store, as a
copy of member/db/data.mdb, which restore takes only with --skip-hash-check, as etcd does.

Status: the store's hash as Maintenance.Hash computes it (ReadApi.hash), its current
revision, the number of rows in all its tables, and the file's size without the digest. The
digest is checked when there is one: etcd's status checks bbolt's pages instead (tx.Check),
which LMDB has no equivalent of, so the digest is the integrity check here.

Restore makes a data dir from which `petcd --name N --data-dir D --initial-cluster ...`
starts a NEW cluster holding the snapshot's keys, revisions, compaction state and leases.
etcd's restore writes a WAL whose log holds the new members as committed conf changes
(indexes 1..N), and sets the store's consistent index to N so that the server skips them.
petcd gets the same log without writing it: a member whose WAL is empty bootstraps the
members of its identity as committed conf changes at indexes 1..N (stages/raft/loop.py,
build_node), and apply records them in the member table (stages/apply/applier.py). So
restore writes:

- member/db/: the snapshot's store, with its applied index and term set to 0 and its member
  table (members and removed ids) emptied, in one LMDB transaction. Why this is safe: apply
  skips every entry at or below the store's applied index. Left at the old cluster's index I,
  the new cluster's entries 1..I (its members first, then clients' writes) would be skipped:
  the new members never recorded, committed writes never applied nor answered, and a member
  added later, which gets the leader's store or log, would not agree with this one. At 0,
  the store matches an empty log: the first entries apply, in order, on every member,
  exactly as in a new cluster. An old member table would point transport and
  reconfiguration at the old cluster's peers until the bootstrap entries replaced it (and its
  removed ids would be refused for good): emptied, transport follows the identity until
  apply has recorded the new members, as for any new member.
- member/identity.json: the new cluster's id and this member's id, computed from
  --initial-cluster and --initial-cluster-token as a member of a new cluster computes them
  (common/identity.py), so every member restored with the same flags agrees, and the
  members' names and peer URLs (client URLs are published by each member when it starts).
  The start's own flags no longer decide them, as etcd ignores --initial-cluster once its
  data dir has a WAL.
- member/wal/ and member/snap/ empty, and member/version, as a first start leaves them.

Everything else in the store is kept: keys and their history, revisions, the compaction
done and any still to finish, leases with their remaining TTLs, alarms (as etcd keeps its
alarm bucket: keyed by the old members' ids, `alarm disarm` clears them). The meta table's
cluster and member ids become the new ones. Members restored from one snapshot with the same
--initial-cluster hold the same store and the same first log entries, so they agree from
the start; the store's hash changes only by the member table, which they rebuild alike.

The flags are checked first, with etcd's rules and messages (VerifyBootstrap), then an
existing data dir is refused, as etcdctl does. The data dir is built in a temporary sibling
directory and renamed into place once complete and synced, so a failed restore leaves
nothing behind (etcd's leaves a partial data dir).

Must never: leave a store whose applied index is ahead of the log the new cluster starts
with, or a data dir that looks complete but is not.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlsplit

import lmdb

from petcd.client import errors as client_errors
from petcd.client.urls import check_peer_urls
from petcd.common import identity
from petcd.common.identity import Identity
from petcd.common.layout import db_dir, snap_dir, wal_dir
from petcd.stages.apply import schema
from petcd.stages.apply.quota import Quota
from petcd.stages.apply.reader import MvccReader
from petcd.supervisor.datadir import LAYOUT_VERSION

DIGEST_BYTES = 32            # SHA-256, appended by Maintenance.Snapshot
_COPY_CHUNK = 1 << 20
# bbolt's meta page magic (0xED0CDAED, little-endian) at offset 16: an etcd snapshot.
_BBOLT_MAGIC = b"\xed\xda\x0c\xed"


class SnapshotError(Exception):
    """A snapshot that cannot be read or restored, or bad restore flags; str() is the
    message etcdctl would print after `Error: `."""


@dataclass(frozen=True, slots=True)
class Status:
    hash: int
    revision: int
    total_keys: int
    total_size: int


def has_digest(size: int) -> bool:
    return size % 512 == DIGEST_BYTES


def _os_error(op: str, path: str, e: OSError) -> SnapshotError:
    """Go's *PathError text: `open PATH: no such file or directory`."""
    return SnapshotError(f"{op} {path}: {(e.strerror or str(e)).lower()}")


def _digest_mismatch(want: bytes, got: bytes) -> SnapshotError:
    # Go's %v of a []byte, as etcd prints it.
    return SnapshotError(f"expected sha256 [{' '.join(map(str, want))}], "
                         f"got [{' '.join(map(str, got))}]")


def _copy_checked(src, size: int, digest: bytes | None, dst=None) -> None:
    """Read the `size` store bytes of `src` (writing them to `dst`, if given) and compare
    their SHA-256 with `digest`, if given."""
    h = hashlib.sha256() if digest is not None else None
    left = size
    while left:
        blob = src.read(min(_COPY_CHUNK, left))
        if not blob:
            raise SnapshotError("snapshot file shrank while it was read")
        left -= len(blob)
        if h is not None:
            h.update(blob)
        if dst is not None:
            dst.write(blob)
    if h is not None and h.digest() != digest:
        raise _digest_mismatch(digest, h.digest())


def _not_petcd(path: str, why: str) -> SnapshotError:
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        head = b""
    if head[16:20] == _BBOLT_MAGIC:
        return SnapshotError(f"{path} is an etcd (bbolt) snapshot, not a petcd one")
    return SnapshotError(f"{path} is not a petcd snapshot ({why.removeprefix(path + ': ')})")


# --- status ----------------------------------------------------------------------------------
def status(path: str) -> Status:
    """The status of the snapshot file at `path` (see the module docstring)."""
    try:
        size = os.stat(path).st_size
    except OSError as e:
        raise _os_error("stat", path, e) from None
    try:
        with open(path, "rb") as f:
            if has_digest(size):
                store_size = size - DIGEST_BYTES
                f.seek(store_size)
                digest = f.read(DIGEST_BYTES)
                f.seek(0)
                _copy_checked(f, store_size, digest)
            else:
                store_size = size
    except OSError as e:
        raise _os_error("open", path, e) from None
    try:
        # lock=False: nothing else writes a snapshot file, and no lock file is left beside it.
        # LMDB reads only the pages the store names, so the digest after them is harmless.
        env = lmdb.open(path, subdir=False, readonly=True, lock=False, max_dbs=schema.MAX_DBS,
                        readahead=False)
    except lmdb.Error as e:
        raise _not_petcd(path, str(e)) from None
    try:
        _check_whole(env, path, store_size)
        try:
            dbs = schema.open_dbs(env, create=False)
        except (RuntimeError, lmdb.Error) as e:
            raise _not_petcd(path, str(e)) from None
        return _status(env, dbs, path, store_size)
    except lmdb.Error as e:
        raise SnapshotError(f"{path}: {e}") from None
    finally:
        env.close()


def _status(env, dbs, path: str, store_size: int) -> Status:
    with env.begin() as txn:
        _check_version(path, txn.get(schema.M_SCHEMA_VERSION, db=dbs.meta))
        # Every row of every table, as etcd counts every key of every bbolt bucket; petcd's
        # tables are not etcd's buckets (it keeps a key index and the latest values on
        # disk, which etcd holds in memory), so the number is larger than etcd's for the
        # same keys. A duplicate of a dup-sorted table (the key index, lease_keys) is a row.
        total = sum(txn.stat(getattr(dbs, name.decode()))["entries"]
                    for name in schema.DATABASES)
    reader = MvccReader(env, dbs, Quota(0))
    return Status(reader.hash(), reader.current_revision(), total, store_size)


def _check_whole(env, path: str, store_size: int) -> None:
    """Refuse a store file shorter than its meta page says (a partial copy): LMDB would read
    the missing pages past the end of its map. A file without a digest is otherwise read as
    LMDB reads its own file, trusting it; the digest is what protects a snapshot."""
    need = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    if store_size < need:
        raise SnapshotError(f"{path} is truncated: its store has {need} bytes, the file "
                            f"{store_size}")


def _check_version(path: str, raw: bytes | None) -> int:
    if raw is None:
        raise _not_petcd(path, "no schema version in its meta table")
    version = schema.U64.unpack(raw)[0]
    if version not in schema.UPGRADABLE_VERSIONS:
        try:
            schema.check_version(version)
        except RuntimeError as e:
            raise SnapshotError(f"{path}: {e}") from None
    return version


# --- the flags (etcd's ServerConfig.VerifyBootstrap) -------------------------------------------
def _urls(urls: list[str]) -> list[str]:
    try:
        return sorted(check_peer_urls(tuple(urls)))
    except client_errors.ClientError as e:
        raise SnapshotError(e.message) from None


def parse_urls_map(text: str) -> dict[str, list[str]]:
    """etcd's types.NewURLsMap: `name=url,...`, an entry without `=` a name with an empty URL;
    each member's URLs checked (etcd's messages) and sorted."""
    raw: dict[str, list[str]] = {}
    for item in text.split(","):
        if item:
            name, _, url = item.partition("=")
            raw.setdefault(name, []).append(url)
    return {name: _urls(urls) for name, urls in raw.items()}


def _urls_map_text(cluster: dict[str, list[str]]) -> str:
    return ",".join(sorted(f"{n}={u}" for n, us in cluster.items() for u in us))


def _go_quote(s: str) -> str:
    """Go's %q, near enough for names and paths."""
    return json.dumps(s, ensure_ascii=False)


def _go_strings(xs: list[str]) -> str:
    """Go's %q of a []string."""
    return "[" + " ".join(map(_go_quote, xs)) + "]"


def _resolved(url: str) -> str:
    """The URL with its host name resolved to an address, as etcd compares peer URLs
    (netutil.URLStringsEqual); unchanged if it is an address or `localhost` (etcd leaves both
    as they are), a unix socket, or a name that does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == "localhost" or parts.scheme in ("unix", "unixs"):
        return url
    try:
        ipaddress.ip_address(host)
        return url
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, parts.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return url
    v4 = [i for i in infos if i[0] == socket.AF_INET]
    family, _, _, _, addr = (v4 or infos)[0]
    ip = addr[0] if family == socket.AF_INET else f"[{addr[0]}]"
    return parts._replace(netloc=f"{ip}:{parts.port}").geturl()


def _advertise_error(name: str, cluster_urls: list[str], peer_urls: list[str]) -> str | None:
    """etcd's advertiseMatchesCluster: None if this member's URLs in --initial-cluster are
    its --initial-advertise-peer-urls (after resolving host names), else etcd's message."""
    if cluster_urls == peer_urls:
        return None
    if len(cluster_urls) != len(peer_urls):
        why = f"len({_go_strings(peer_urls)}) != len({_go_strings(cluster_urls)})"
    else:
        a = sorted(_resolved(u) for u in peer_urls)
        b = sorted(_resolved(u) for u in cluster_urls)
        if a == b:
            return None
        i = next(i for i in range(len(a)) if a[i] != b[i])
        why = f"resolved urls: {_go_quote(a[i])} != {_go_quote(b[i])}"
    ap = ",".join(peer_urls)
    missing = [u for u in cluster_urls if u not in peer_urls]
    if missing:
        return (f"--initial-cluster has {','.join(f'{name}={u}' for u in missing)} but "
                f"missing from --initial-advertise-peer-urls={ap} ({why})")
    extra = [u for u in peer_urls if u not in cluster_urls]
    if extra:
        return (f"--initial-advertise-peer-urls has {','.join(extra)} but missing from "
                f"--initial-cluster={_urls_map_text({name: peer_urls})}")
    return (f"failed to resolve {ap} to match "
            f"--initial-cluster={_urls_map_text({name: peer_urls})} ({why})")


def new_identity(name: str, initial_cluster: str, initial_cluster_token: str,
                 initial_advertise_peer_urls: list[str]) -> Identity:
    """The identity of member `name` of the new cluster the flags describe; SnapshotError
    with etcd's message if they do not describe one."""
    peer_urls = _urls(initial_advertise_peer_urls)
    cluster = parse_urls_map(initial_cluster)
    if name not in cluster:
        raise SnapshotError(f"couldn't find local name {_go_quote(name)} in the initial "
                            f"cluster configuration")
    err = _advertise_error(name, cluster[name], peer_urls)
    if err is not None:
        raise SnapshotError(err)
    every = [u for us in cluster.values() for u in us]
    if len(set(every)) != len(every):
        raise SnapshotError(f"initial cluster {_urls_map_text(cluster)} has duplicate url")
    cfg = SimpleNamespace(name=name, initial_cluster=initial_cluster,
                          initial_cluster_token=initial_cluster_token,
                          initial_advertise_peer_urls=tuple(peer_urls),
                          advertise_client_urls=())
    try:
        return identity.from_config(cfg)
    except ValueError as e:
        raise SnapshotError(str(e)) from None


# --- restore ---------------------------------------------------------------------------------
def check_data_dir(data_dir: str) -> None:
    """Refuse a data dir that exists, even empty, as etcdctl 3.4 does."""
    if os.path.lexists(data_dir):
        raise SnapshotError(f"data-dir {_go_quote(data_dir)} exists")


def restore(path: str, data_dir: str, ident: Identity, *, skip_hash_check: bool = False,
            map_size_bytes: int = schema.DEFAULT_MAP_SIZE_BYTES) -> None:
    """Make `data_dir` (which must not exist) a data dir of the member `ident` names, holding
    the store of the snapshot file at `path` (see the module docstring)."""
    check_data_dir(data_dir)
    try:
        src = open(path, "rb")
    except OSError as e:
        raise _os_error("open", path, e) from None
    with src:
        size = os.fstat(src.fileno()).st_size
        digest = None
        store_size = size
        if has_digest(size):
            store_size = size - DIGEST_BYTES
            src.seek(store_size)
            digest = src.read(DIGEST_BYTES)
            src.seek(0)
        elif not skip_hash_check:
            raise SnapshotError("snapshot missing hash but --skip-hash-check=false")
        parent = os.path.dirname(os.path.abspath(data_dir))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(data_dir)}.restore-", dir=parent)
        try:
            for d in (wal_dir(tmp), snap_dir(tmp), db_dir(tmp)):
                os.makedirs(d)
            with open(os.path.join(db_dir(tmp), "data.mdb"), "wb") as dst:
                _copy_checked(src, store_size, None if skip_hash_check else digest, dst)
                dst.flush()
                os.fsync(dst.fileno())
            _reset_store(path, db_dir(tmp), ident, map_size_bytes)
            _write_file(os.path.join(tmp, "member", "version"), f"{LAYOUT_VERSION}\n")
            identity.save(tmp, ident)
            for d in (wal_dir(tmp), snap_dir(tmp), db_dir(tmp), os.path.join(tmp, "member"),
                      tmp):
                _fsync_dir(d)
            check_data_dir(data_dir)   # made while we copied?
            os.rename(tmp, data_dir)
            _fsync_dir(parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _reset_store(path: str, db_path: str, ident: Identity, map_size_bytes: int) -> None:
    """The copied store made a store of the new cluster, in one write transaction."""
    try:
        env = schema.open_env(db_path, map_size_bytes, readonly=False,
                              max_readers=schema.DEFAULT_MAX_READERS)
    except lmdb.Error as e:
        raise _not_petcd(path, str(e)) from None
    try:
        _check_whole(env, path, os.path.getsize(os.path.join(db_path, "data.mdb")))
        try:
            dbs = schema.open_dbs(env, create=False)
        except (RuntimeError, lmdb.Error) as e:
            raise _not_petcd(path, str(e)) from None
        _reset(env, dbs, path, ident)
    except lmdb.Error as e:
        raise SnapshotError(f"{path}: {e}") from None
    finally:
        env.close()
    lock = os.path.join(db_path, "lock.mdb")  # the member makes its own
    if os.path.exists(lock):
        os.unlink(lock)


def _reset(env, dbs, path: str, ident: Identity) -> None:
    with env.begin(write=True) as txn:
        version = _check_version(path, txn.get(schema.M_SCHEMA_VERSION, db=dbs.meta))
        # A store from an older build is brought to this one's schema, as a member does
        # when it opens one (schema.init_or_check).
        schema.upgrade(txn, dbs, version)
        schema.meta_put(txn, dbs, schema.M_APPLIED_INDEX, 0)
        schema.meta_put(txn, dbs, schema.M_APPLIED_TERM, 0)
        schema.meta_put(txn, dbs, schema.M_CLUSTER_ID, ident.cluster_id)
        schema.meta_put(txn, dbs, schema.M_MEMBER_ID, ident.member_id)
        txn.drop(dbs.members, delete=False)   # members and removed ids alike
    env.sync(True)


def _write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

