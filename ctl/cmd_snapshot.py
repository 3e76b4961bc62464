"""snapshot save|status|restore: etcdctl 3.4's snapshot commands, on petcd's snapshot files.

`save` streams Maintenance.Snapshot into a file (the store, then its SHA-256). `status` and
`restore` read such a file with supervisor/restore.py, which says what they count and how a
restored data dir starts a new cluster. Output is etcdctl's: status in the four formats, and
restore's progress as JSON log lines on stderr (etcdctl's zap logger), nothing on stdout.
"""
from __future__ import annotations

import json
import os
import sys
import time

import click

from petcd.client import errors
from petcd.common.layout import snap_dir, wal_dir
from petcd.supervisor import restore as rs
from . import display as d
from .cli import EXIT_BAD_ARGS, EXIT_BAD_FEATURE, EXIT_ERROR, CtlExit, ctl, out


@ctl.group("snapshot")
def snapshot():
    """Manages etcd node snapshots"""


@snapshot.command("save")
@click.argument("args", nargs=-1)
@click.pass_obj
def snapshot_save(ctx, args):
    """Stores an etcd node backend snapshot to a given file"""
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, "snapshot save expects one argument")
    if len(ctx.endpoints) != 1:
        raise CtlExit(EXIT_BAD_ARGS, f"snapshot must be requested to one selected node, not "
                                     f"multiple [{' '.join(ctx.endpoints)}]")
    path = args[0]
    part = path + ".part"
    try:
        stream = ctx.client().snapshot()
    except errors.Unimplemented as e:
        raise CtlExit(EXIT_ERROR, f"snapshot is not supported by this server ({e.message})") \
            from None
    try:
        with open(part, "wb") as f:
            for chunk in stream:
                f.write(chunk.blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, path)
    finally:
        stream.close()
        if os.path.exists(part):
            os.unlink(part)
    out(f"Snapshot saved at {path}\n")


@snapshot.command("status")
@click.argument("args", nargs=-1)
@click.pass_obj
def snapshot_status(ctx, args):
    """Gets backend snapshot status of a given file"""
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, "snapshot status requires exactly one argument")
    try:
        st = rs.status(args[0])
    except rs.SnapshotError as e:
        raise CtlExit(EXIT_ERROR, str(e)) from None
    out(format_status(st, ctx.write_out))


def format_status(st: rs.Status, write_out: str) -> str:
    """What etcdctl prints for a snapshot's status in format `write_out`."""
    row = [f"{st.hash:x}", str(st.revision), str(st.total_keys),
           d.humanize_bytes(st.total_size)]
    if write_out == "simple":
        return ", ".join(row) + "\n"
    if write_out == "table":
        return d.table(["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"], [row])
    if write_out == "json":
        return d.to_json({"hash": st.hash, "revision": st.revision, "totalKey": st.total_keys,
                          "totalSize": st.total_size}) + "\n"
    if write_out == "fields":
        return (f'"Hash" : {st.hash}\n"Revision" : {st.revision}\n'
                f'"Keys" : {st.total_keys}\n"Size" : {st.total_size}\n')
    raise CtlExit(EXIT_BAD_FEATURE, f"{write_out} not supported as output format")


@snapshot.command("restore")
@click.argument("args", nargs=-1)
@click.option("--data-dir", default="", help="Path to the data directory")
@click.option("--wal-dir", "wal_dir_", default="",
              help="Path to the WAL directory (use --data-dir if none given)")
@click.option("--name", default="default", help="Human-readable name for this member")
@click.option("--initial-cluster", default="default=http://localhost:2380",
              help="Initial cluster configuration for restore bootstrap")
@click.option("--initial-cluster-token", default="etcd-cluster",
              help="Initial cluster token for the etcd cluster during restore bootstrap")
@click.option("--initial-advertise-peer-urls", default="http://localhost:2380",
              help="List of this member's peer URLs to advertise to the rest of the cluster")
@click.option("--skip-hash-check", is_flag=True, default=False,
              help="Ignore snapshot integrity hash value (required if copied from data "
                   "directory)")
def snapshot_restore(args, data_dir, wal_dir_, name, initial_cluster, initial_cluster_token,
                     initial_advertise_peer_urls, skip_hash_check):
    """Restores an etcd member snapshot to an etcd directory"""
    if len(args) != 1:
        raise CtlExit(EXIT_BAD_ARGS, "snapshot restore requires exactly one argument")
    path = args[0]
    data_dir = data_dir or f"{name}.petcd"   # petcd's default data dir (etcd: <name>.etcd)
    try:
        ident = rs.new_identity(name, initial_cluster, initial_cluster_token,
                                initial_advertise_peer_urls.split(","))
        rs.check_data_dir(data_dir)
        if wal_dir_ and os.path.abspath(wal_dir_) != os.path.abspath(wal_dir(data_dir)):
            raise CtlExit(EXIT_BAD_FEATURE, f"--wal-dir is not supported: petcd keeps the WAL "
                                            f"in {wal_dir(data_dir)}")
        where = {"path": path, "wal-dir": wal_dir(data_dir), "data-dir": data_dir,
                 "snap-dir": snap_dir(data_dir)}
        _log("restoring snapshot", **where)
        rs.restore(path, data_dir, ident, skip_hash_check=skip_hash_check)
    except rs.SnapshotError as e:
        raise CtlExit(EXIT_ERROR, str(e)) from None
    except OSError as e:   # making the data dir
        raise CtlExit(EXIT_ERROR, f"{e.filename}: {(e.strerror or str(e)).lower()}"
                      if e.filename else str(e)) from None
    for m in ident.members:
        _log("added member", **{"cluster-id": f"{ident.cluster_id:x}",
                                "local-member-id": f"{ident.member_id:x}",
                                "added-peer-id": f"{m.id:x}",
                                "added-peer-peer-urls": list(m.peer_urls)})
    _log("restored snapshot", **where)


def _log(msg: str, **fields) -> None:
    """One line of etcdctl's zap production logger."""
    sys.stderr.write(json.dumps({"level": "info", "ts": time.time(), "msg": msg, **fields},
                                separators=(",", ":")) + "\n")
    sys.stderr.flush()
