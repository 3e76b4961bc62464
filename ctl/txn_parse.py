"""etcdctl's txn language, parsed into the client's compares and ops (pure, no I/O).

    value("foo") = "bar"          compares, one a line: <target>("<key>") <op> "<operand>"
    mod("foo") > "3"              targets value|val, version|ver, create|c, mod|m, lease
                                  ops =, !=, <, >
    <blank line>
    put k1 v1                     success ops: put, get, del with etcdctl's own flags
    get foo --prefix
    <blank line>
    put k2 v2                     failure ops
    <blank line>

As etcdctl does, a section ends at an empty line, and input that ends before the last one
is an error ("EOF"). Keys and operands use Go's quoted-string syntax.
"""
from __future__ import annotations

import ast
import re
import shlex

from petcd.client import txn as t
from petcd.common.kv import SortOrder, SortTarget


class TxnSyntaxError(ValueError):
    pass


_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_CMP = re.compile(r"^([A-Za-z]+)\(" + _QUOTED + r"\) (\S+) " + _QUOTED + r"$")
_TARGETS = {"value": t.value, "val": t.value, "version": t.version, "ver": t.version,
            "create": t.create, "c": t.create, "mod": t.mod, "m": t.mod, "lease": t.lease}


def _unquote(s: str) -> str:
    return ast.literal_eval('"' + s + '"')


def parse_compare(line: str):
    if "(" not in line:
        raise TxnSyntaxError(f"malformed comparison: {line}")
    mt = _CMP.match(line)
    if mt is None:
        raise TxnSyntaxError(f"malformed comparison: {line}")
    target, key, op, operand = mt.group(1), _unquote(mt.group(2)), mt.group(3), \
        _unquote(mt.group(4))
    make = _TARGETS.get(target)
    if make is None:
        raise TxnSyntaxError(f"malformed comparison: {line} (unknown target {target})")
    tgt = make(key)
    if make is t.lease and operand:
        try:
            operand = int(operand, 16)
        except ValueError:
            raise TxnSyntaxError(f"malformed comparison: {line} (bad lease ID)") from None
    elif make is not t.value:
        try:
            operand = int(operand)
        except ValueError:
            raise TxnSyntaxError(f"malformed comparison: {line} (bad value {operand!r})") from None
    if op == "=":
        return tgt == operand
    if op == "!=":
        return tgt != operand
    if op == "<":
        return tgt < operand
    if op == ">":
        return tgt > operand
    raise TxnSyntaxError(f"malformed comparison: {line} (unknown op {op})")


_BOOL_FLAGS = {"--prefix", "--from-key", "--prev-kv", "--keys-only", "--count-only",
               "--ignore-value", "--ignore-lease", "--print-value-only"}


def _split_flags(words: list[str]) -> tuple[dict, list[str]]:
    flags, args = {}, []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--"):
            name, eq, val = w.partition("=")
            if name in _BOOL_FLAGS:
                flags[name] = val.lower() != "false" if eq else True
            else:
                if not eq:
                    i += 1
                    if i >= len(words):
                        raise TxnSyntaxError(f"flag needs an argument: {name}")
                    val = words[i]
                flags[name] = val
        else:
            args.append(w)
        i += 1
    return flags, args


def parse_op(line: str):
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise TxnSyntaxError(f"invalid txn request: {line} ({e})") from None
    if not words:
        raise TxnSyntaxError(f"empty op in txn request: {line}")
    cmd, rest = words[0], words[1:]
    flags, args = _split_flags(rest)
    if cmd == "put":
        if len(args) != 2:
            raise TxnSyntaxError("put command needs 1 argument and input from stdin or 2 "
                                 "arguments")
        lease = int(flags.get("--lease", "0"), 16)
        return t.put(args[0], args[1], lease=lease, prev_kv=flags.get("--prev-kv", False),
                     ignore_value=flags.get("--ignore-value", False),
                     ignore_lease=flags.get("--ignore-lease", False))
    if cmd == "get":
        if not 1 <= len(args) <= 2:
            raise TxnSyntaxError("get command needs one argument as key and an optional "
                                 "argument as range_end")
        order = flags.get("--order", "").upper()
        sort_by = flags.get("--sort-by", "").upper()
        return t.get(args[0], args[1] if len(args) > 1 else None,
                     prefix=flags.get("--prefix", False), from_key=flags.get("--from-key", False),
                     limit=int(flags.get("--limit", "0")), revision=int(flags.get("--rev", "0")),
                     sort_order=SortOrder[order] if order else SortOrder.NONE,
                     sort_target=SORT_TARGETS[sort_by] if sort_by else SortTarget.KEY,
                     serializable=flags.get("--consistency", "l") == "s",
                     keys_only=flags.get("--keys-only", False),
                     count_only=flags.get("--count-only", False))
    if cmd in ("del", "delete"):
        if not 1 <= len(args) <= 2:
            raise TxnSyntaxError("del command needs one argument as key and an optional "
                                 "argument as range_end")
        return t.delete(args[0], args[1] if len(args) > 1 else None,
                        prefix=flags.get("--prefix", False),
                        from_key=flags.get("--from-key", False),
                        prev_kv=flags.get("--prev-kv", False))
    raise TxnSyntaxError(f"unknown op in txn request: {line}")


SORT_TARGETS = {"KEY": SortTarget.KEY, "VERSION": SortTarget.VERSION,
                "CREATE": SortTarget.CREATE, "MODIFY": SortTarget.MOD,
                "VALUE": SortTarget.VALUE}


def read_section(readline, parse) -> list:
    """Parse lines until an empty one; readline() returns "" at end of input."""
    out = []
    while True:
        line = readline()
        if line == "":
            raise TxnSyntaxError("EOF")
        line = line.rstrip("\r\n")
        if not line:
            return out
        out.append(parse(line))


def parse_txn(readline, prompt=None) -> t.Txn:
    """A whole txn from etcdctl's text; prompt(text) is called before each section."""
    if prompt:
        prompt("compares:")
    cmps = read_section(readline, parse_compare)
    if prompt:
        prompt("success requests (get, put, del):")
    ok = read_section(readline, parse_op)
    if prompt:
        prompt("failure requests (get, put, del):")
    ko = read_section(readline, parse_op)
    return t.Txn(tuple(cmps), tuple(ok), tuple(ko))
