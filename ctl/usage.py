"""petcdctl's usage text, laid out as etcdctl 3.4 lays out its own.

Theory of operation: etcdctl prints one template for `--help`, for a group run without a
subcommand, and (on stdout) after a flag it cannot parse:

    NAME / USAGE / VERSION (root only) / API VERSION and COMMANDS (groups only) /
    DESCRIPTION (if any) / OPTIONS (the command's own flags) / GLOBAL OPTIONS

then a blank line, all through a Go tabwriter (ctl/tabwriter.py). The texts - use lines,
descriptions, flag help - are etcdctl's, kept as data in ctl/usage_table.py; which
commands exist comes from petcdctl's own command tree, so a group lists only what petcdctl
has, and a command etcdctl lacks is described from its click definition. The program name
in NAME and USAGE is petcdctl's; nothing else differs.
"""
from __future__ import annotations

import click

from . import usage_table as table
from .display import go_quote
from .tabwriter import align

PROG = "petcdctl"
API_VERSION = "3.4"


def usage_text(root: click.Group, path: list[str], version: str) -> str:
    """The usage of the command at `path` (names below the root; [] is the root)."""
    cmd = find(root, path)
    spec = table.COMMANDS.get(" ".join(path)) if path else table.ROOT
    if spec is None:
        spec = from_click(cmd, path)
    name = " ".join(path) if path else PROG
    s = f"NAME:\n\t{name} - {spec['short'] if path else root_short(root)}\n"
    s += f"\nUSAGE:\n\t{PROG} {spec['use']}\n"
    if not path:
        s += f"\nVERSION:\n\t{version}\n"
    if isinstance(cmd, click.Group):
        s += f"\nAPI VERSION:\n\t{API_VERSION}\n"
        s += "\n\nCOMMANDS:\n" + "".join(f"\t{sub}\t{short}\n"
                                         for sub, short in leaves(cmd, path))
    if spec["long"]:
        s += "\nDESCRIPTION:\n" + "".join(f"\t{line}\n" for line in spec["long"])
    s += "\nOPTIONS:\n" + "".join(f"{flag}\t{text}\n" for flag, text in spec["flags"])
    if path:
        s += "\nGLOBAL OPTIONS:\n" + "".join(f"{flag}\t{text}\n"
                                             for flag, text in inherited_flags(path))
    return align(s + "\n")


def inherited_flags(path: list[str]) -> list[tuple[str, str]]:
    """The global flags and the flags of the groups above (a group's flags are cobra
    persistent flags: `endpoint --cluster` shows under `endpoint health`), in name order."""
    flags = list(table.GLOBAL_FLAGS)
    for i in range(1, len(path)):
        group = table.COMMANDS.get(" ".join(path[:i]))
        if group is not None:
            flags += [f for f in group["flags"] if "--help[" not in f[0]]
    return sorted(flags, key=flag_name)


def flag_name(flag: tuple[str, str]) -> str:
    return flag[0].split("--", 1)[1].split("=", 1)[0].split("[", 1)[0]


def root_short(root: click.Group) -> str:
    return (root.help or "").strip().splitlines()[0]


def find(root: click.Group, path: list[str]) -> click.Command:
    cmd: click.Command = root
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


def short_of(cmd: click.Command, path: list[str]) -> str:
    spec = table.COMMANDS.get(" ".join(path))
    if spec is not None:
        return spec["short"]
    return (cmd.help or "").strip().splitlines()[0] if cmd.help else ""


def leaves(group: click.Group, path: list[str]) -> list[tuple[str, str]]:
    """Every command below `group` that runs (not the groups themselves), by name relative to
    the group and in name order, as cobra lists them."""
    out: list[tuple[str, str]] = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", short) for sub, short in leaves(cmd, path + [name])]
        elif not cmd.hidden:
            out.append((name, short_of(cmd, path + [name])))
    return sorted(out)


def from_click(cmd: click.Command, path: list[str]) -> dict:
    """A usage spec for a command etcdctl does not have, from its click definition."""
    flags = []
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.hidden:
            continue
        name = max(p.opts, key=len)
        short = next((o for o in p.opts if not o.startswith("--")), "")
        lead = f"  {short}, " if short else "      "
        if p.is_flag:
            default = f"[={str(bool(p.default)).lower()}]"
        else:
            default = "=" + (go_quote(p.default) if isinstance(p.default, str) else
                             str(p.default))
        flags.append((f"{lead}{name}{default}", p.help or ""))
    flags.append(("  -h, --help[=false]", f"help for {path[-1] if path else PROG}"))
    use = " ".join(path) + (" <subcommand>" if isinstance(cmd, click.Group) else "")
    return {"short": short_of(cmd, path), "use": use + " [flags]", "long": [],
            "flags": sorted(flags, key=flag_name)}
