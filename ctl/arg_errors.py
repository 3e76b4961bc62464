"""click's argument errors in the words of etcdctl's parser (cobra with pflag).

Theory of operation: petcdctl parses with click, but users and scripts see etcdctl's
messages, so each click error is translated here: unknown flags, shorthands and flag values,
a flag without its argument, unknown commands (with cobra's "Did you mean this?" for names
within two edits, or that the typed name begins). `command_path` finds which command a
command line names, for the usage text etcdctl prints after a flag error; `parse_int` reads
numeric arguments as Go's strconv does, with its errors; `pflag_bools` gives bool flags
pflag's optional value (`--prefix=false`), which click's flags refuse. Pure: no output.
"""
from __future__ import annotations

import re

import click

from .display import go_quote

SUGGESTION_DISTANCE = 2  # cobra's SuggestionsMinimumDistance


class PflagError(click.UsageError):
    """A flag error already in pflag's words."""


def flag_error(e: click.UsageError) -> str | None:
    """pflag's message for a flag error, or None if `e` is not about a flag."""
    if isinstance(e, PflagError):
        return e.message
    if isinstance(e, click.NoSuchOption):
        name = e.option_name
        if not name.startswith("--"):
            return f"unknown shorthand flag: '{name[1:2]}' in {name}"
        return f"unknown flag: {name.split('=', 1)[0]}"
    if isinstance(e, click.BadOptionUsage) and "requires an argument" in e.message:
        return missing_argument(e.option_name)
    if isinstance(e, click.BadParameter) and isinstance(e.param, click.Option):
        flag = "--" + e.param.name.replace("_", "-")
        m = re.match(r"'(.*)' is not a valid integer", e.message, re.S)
        if m:
            return (f'invalid argument "{m.group(1)}" for "{flag}" flag: strconv.ParseInt: '
                    f'parsing "{m.group(1)}": invalid syntax')
        return f'invalid argument for "{flag}" flag: {e.message}'
    return None


def parse_int(text: str, base: int = 10) -> int:
    """Go's strconv.ParseInt(text, base, 64): an optional sign, then digits of `base` only;
    a ValueError carries Go's message (`strconv.ParseInt: parsing "x": invalid syntax`)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or any(c not in "0123456789abcdef"[:base] for c in body.lower()):
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    value = int(text, base)
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value


# strconv.ParseBool's words
_GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
             **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}


def pflag_bools(params, args: list[str]) -> tuple[list[str], dict[str, bool]]:
    """`args` without the bool flags that were given a value (`--name=false`), and what
    those flags are set to ({param name: bool}). As pflag, the last mention of a flag wins,
    so once a flag has a value somewhere all its mentions are taken out here; a flag only
    ever given bare is left to click. Nothing after `--` is a flag."""
    flags = {o: p for p in params if isinstance(p, click.Option) and p.is_flag
             for o in p.opts if o.startswith("--")}
    end = args.index("--") if "--" in args else len(args)
    valued = {a.partition("=")[0] for a in args[:end] if "=" in a} & flags.keys()
    if not valued:
        return args, {}
    kept, settled = [], {}
    for a in args[:end]:
        name, eq, value = a.partition("=")
        if name not in valued:
            kept.append(a)
            continue
        if eq and value not in _GO_BOOLS:
            raise PflagError(f"invalid argument {go_quote(value)} for {go_quote(name)} flag: "
                             f"strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")
        settled[flags[name].name] = _GO_BOOLS[value] if eq else True
    return kept + args[end:], settled


def missing_argument(name: str) -> str:
    if not name.startswith("--"):
        return f"flag needs an argument: '{name[1:2]}' in {name}"
    return f"flag needs an argument: {name}"


def unknown_command(name: str, prog: str, candidates) -> str:
    """cobra's error for an unknown command of the root, suggestions included."""
    msg = f'unknown command "{name}" for "{prog}"'
    near = suggestions(name, candidates)
    if near:
        msg += "\n\nDid you mean this?\n" + "".join(f"\t{c}\n" for c in near)
    return msg


def suggestions(typed: str, candidates) -> list[str]:
    t = typed.lower()
    return [c for c in sorted(candidates)
            if levenshtein(t, c.lower()) <= SUGGESTION_DISTANCE or c.lower().startswith(t)]


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def command_path(root: click.Group, argv: list[str], valued_flags: set[str]) -> list[str]:
    """The names of the command an argument list runs ([] for the root): words that name a
    subcommand, skipping flags and the values of `valued_flags` (given without '=')."""
    path: list[str] = []
    cmd: click.Command = root
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word == "--":
            break
        if word.startswith("-"):
            skip = "=" not in word and word in valued_flags
            continue
        if not isinstance(cmd, click.Group) or word not in cmd.commands:
            break
        cmd = cmd.commands[word]
        path.append(word)
    return path
