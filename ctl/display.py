"""etcdctl 3.4's output formats, as text: simple, json, fields and table.

Each function takes the client's answer and returns exactly what etcdctl prints (lines end
in "\\n"); callers write it. The rules copied from etcdctl's printers: simple prints a key line
then a value line per KeyValue; json is Go's encoding/json of the protobuf structs (every
integer a number, bytes base64, zero fields left out); fields prints `"Name" : value` lines
with Go's %q for strings; table is olekukonko/tablewriter with right-aligned cells and
centred upper-case headers. --hex prints keys and values as \\x-escaped hex. Pure: no I/O.
"""
from __future__ import annotations

import json
import math
import unicodedata

from petcd.client import convert
from petcd.common import kv

FORMATS = ("simple", "json", "fields", "protobuf", "table")


class UnsupportedFormat(Exception):
    pass


_GO_NAMED_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                     "\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """Go's %q for a string (strconv.Quote). `s` may hold bytes that are not UTF-8 as
    text() leaves them (surrogate escapes): each is \\xNN, as Go escapes a bad byte. What
    strconv.IsPrint rejects (not a letter, mark, number, punctuation or symbol, nor the ASCII
    space) is \\uNNNN or \\UNNNNNNNN, control bytes \\xNN unless Go has a name for them."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _GO_NAMED_ESCAPES:
            out.append(_GO_NAMED_ESCAPES[ch])
        elif 0xDC80 <= o <= 0xDCFF:  # a byte surrogateescape kept
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x80 or unicodedata.category(ch)[0] in "LMNPS":
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def text(b: bytes, hex_: bool = False) -> str:
    if hex_:
        return "".join(f"\\x{x:02x}" for x in b)
    return b.decode("utf-8", "surrogateescape")


def go_bool(v: bool) -> str:
    return "true" if v else "false"


def to_json(doc) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def etcdctl_json(msg) -> dict:
    return convert.dump(msg, "etcdctl")


# -- simple -------------------------------------------------------------------------------

def simple_kv(k: kv.KeyValue, hex_: bool = False, value_only: bool = False) -> str:
    out = "" if value_only else text(k.key, hex_) + "\n"
    return out + text(k.value, hex_) + "\n"


def simple_get(r: kv.RangeResponse, hex_=False, value_only=False) -> str:
    return "".join(simple_kv(k, hex_, value_only) for k in r.kvs)


def simple_put(r: kv.PutResponse, hex_=False) -> str:
    out = "OK\n"
    if r.prev_kv is not None:
        out += simple_kv(r.prev_kv, hex_)
    return out


def simple_del(r: kv.DeleteRangeResponse, hex_=False) -> str:
    return f"{r.deleted}\n" + "".join(simple_kv(k, hex_) for k in r.prev_kvs)


def simple_txn(r: kv.TxnResponse, hex_=False) -> str:
    out = ["SUCCESS\n" if r.succeeded else "FAILURE\n"]
    for op in r.responses:
        out.append("\n")
        if op.response_delete_range is not None:
            out.append(simple_del(op.response_delete_range, hex_))
        elif op.response_put is not None:
            out.append(simple_put(op.response_put, hex_))
        elif op.response_range is not None:
            out.append(simple_get(op.response_range, hex_))
        elif op.response_txn is not None:
            out.append(simple_txn(op.response_txn, hex_))
    return "".join(out)


def simple_watch(r, hex_=False) -> str:
    out = []
    for ev in r.events:
        out.append("DELETE\n" if ev.type == kv.EventType.DELETE else "PUT\n")
        if ev.prev_kv is not None:
            out.append(simple_kv(ev.prev_kv, hex_))
        out.append(simple_kv(ev.kv or kv.KeyValue(), hex_))
    return "".join(out)


# -- fields -------------------------------------------------------------------------------

def fields_hdr(h: kv.ResponseHeader | None) -> str:
    h = h or kv.ResponseHeader()
    return (f'"ClusterID" : {h.cluster_id}\n"MemberID" : {h.member_id}\n'
            f'"Revision" : {h.revision}\n"RaftTerm" : {h.raft_term}\n')


def fields_kv(pfx: str, k: kv.KeyValue) -> str:
    return (f'"{pfx}Key" : {go_quote(text(k.key))}\n'
            f'"{pfx}CreateRevision" : {k.create_revision}\n'
            f'"{pfx}ModRevision" : {k.mod_revision}\n"{pfx}Version" : {k.version}\n'
            f'"{pfx}Value" : {go_quote(text(k.value))}\n"{pfx}Lease" : {k.lease}\n')


def fields_get(r: kv.RangeResponse) -> str:
    return (fields_hdr(r.header) + "".join(fields_kv("", k) for k in r.kvs)
            + f'"More" : {go_bool(r.more)}\n"Count" : {r.count}\n')


def fields_put(r: kv.PutResponse) -> str:
    return fields_hdr(r.header) + (fields_kv("Prev", r.prev_kv) if r.prev_kv else "")


def fields_del(r: kv.DeleteRangeResponse) -> str:
    return (fields_hdr(r.header) + f'"Deleted" : {r.deleted}\n'
            + "".join(fields_kv("Prev", k) for k in r.prev_kvs))


def fields_txn(r: kv.TxnResponse) -> str:
    out = [fields_hdr(r.header), f'"Succeeded" : {go_bool(r.succeeded)}\n']
    for op in r.responses:
        if op.response_delete_range is not None:
            out.append(fields_del(op.response_delete_range))
        elif op.response_put is not None:
            out.append(fields_put(op.response_put))
        elif op.response_range is not None:
            out.append(fields_get(op.response_range))
    return "".join(out)


def fields_watch(r) -> str:
    out = [fields_hdr(r.header)]
    for ev in r.events:
        out.append(f'"Type" : {"DELETE" if ev.type == kv.EventType.DELETE else "PUT"}\n')
        if ev.prev_kv is not None:
            out.append(fields_kv("Prev", ev.prev_kv))
        out.append(fields_kv("", ev.kv or kv.KeyValue()))
    return "".join(out)


# -- json ---------------------------------------------------------------------------------

_OP_NAMES = {"response_range": "ResponseRange", "response_put": "ResponsePut",
             "response_delete_range": "ResponseDeleteRange", "response_txn": "ResponseTxn"}


def json_txn(r: kv.TxnResponse) -> dict:
    """etcdctl marshals ResponseOp's oneof as {"Response": {"ResponsePut": {...}}}."""
    doc = {}
    if r.header is not None:
        doc["header"] = etcdctl_json(r.header)
    if r.succeeded:
        doc["succeeded"] = True
    if r.responses:
        ops = []
        for op in r.responses:
            for attr, name in _OP_NAMES.items():
                v = getattr(op, attr)
                if v is not None:
                    inner = json_txn(v) if attr == "response_txn" else etcdctl_json(v)
                    ops.append({"Response": {name: inner}})
                    break
            else:
                ops.append({})
        doc["responses"] = ops
    return doc


def json_watch(r) -> dict:
    """etcdctl prints clientv3.WatchResponse, a Go struct without json tags: its exported
    fields under their Go names, Events always a list."""
    return {"Header": etcdctl_json(r.header) if r.header is not None else {},
            "Events": [etcdctl_json(ev) for ev in r.events],
            "CompactRevision": r.compact_revision, "Canceled": bool(r.canceled),
            "Created": bool(r.created)}


# -- table --------------------------------------------------------------------------------

def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def centre(s: str, w: int) -> str:
        left = (w - len(s)) // 2
        return " " * left + s + " " * (w - len(s) - left)

    out = [sep, "|" + "|".join(" " + centre(h, w) + " " for h, w in zip(header, widths))
           + "|\n", sep]
    for row in rows:
        out.append("|" + "|".join(" " + c.rjust(w) + " " for c, w in zip(row, widths)) + "|\n")
    out.append(sep)
    return "".join(out)


def humanize_bytes(n: int) -> str:
    """go-humanize's Bytes (SI units), as etcdctl prints DB SIZE."""
    if n < 10:
        return f"{n} B"
    sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    e = math.floor(math.log(n) / math.log(1000))
    val = math.floor(n / 1000 ** e * 10 + 0.5) / 10
    return f"{val:.1f} {sizes[e]}" if val < 10 else f"{val:.0f} {sizes[e]}"


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for a positive duration."""
    ns = int(round(seconds * 1e9))
    if ns < 1000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return _trim(f"{ns / 1e3:.3f}") + "µs"
    if ns < 1_000_000_000:
        return _trim(f"{ns / 1e6:.6f}") + "ms"
    s = ns / 1e9
    if s < 60:
        return _trim(f"{s:.9f}") + "s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{int(m)}m" + _trim(f"{s:.9f}") + "s"
    h, m = divmod(m, 60)
    return f"{int(h)}h{int(m)}m" + _trim(f"{s:.9f}") + "s"


def _trim(s: str) -> str:
    return s.rstrip("0").rstrip(".") if "." in s else s
