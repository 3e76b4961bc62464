"""petcdctl's usage texts and argument errors against etcdctl 3.4.23's, recorded by
`python -m tests.conformance.record_usage` (tests/conformance/recorded/usage.json): stdout,
stderr and exit code byte for byte, with the program's name as the only difference. No
server: argument errors never dial."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from petcd.ctl import arg_errors, usage_table
from petcd.ctl.cli import _load_commands, ctl, run
from petcd.ctl.tabwriter import align

RECORDED = json.loads((Path(__file__).parents[1] / "conformance" / "recorded" /
                       "usage.json").read_text())
_load_commands()


def petcdctl(capsys, args: list[str]) -> dict:
    code = run(["--endpoints", "127.0.0.1:1", *args])
    cap = capsys.readouterr()
    return {"stdout": cap.out.replace("petcdctl", "etcdctl"),
            "stderr": cap.err.replace("petcdctl", "etcdctl"), "exit": code}


def petcdctl_paths(group: click.Group = ctl, path=()) -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        out.append(" ".join((*path, name)))
        if isinstance(cmd, click.Group):
            out += petcdctl_paths(cmd, (*path, name))
    return out


def same_subcommands(path: str) -> bool:
    """Whether petcdctl has every subcommand etcdctl lists in this group's usage."""
    want = RECORDED["help"][path].split("\nCOMMANDS:\n", 1)
    if len(want) == 1:
        return True
    theirs = {re.split(r"\t+", x.strip("\t"))[0] for x in want[1].split("\n\n")[0].splitlines()}
    ours = {p[len(path) + 1:] for p in petcdctl_paths() if p.startswith(path + " ")}
    return theirs <= ours


@pytest.mark.parametrize("case", RECORDED["cases"], ids=lambda c: " ".join(c["args"]) or "-")
def test_argument_errors_match_etcdctl(capsys, case):
    if case["args"] == []:
        pytest.skip("the root's usage lists every command, and petcdctl lacks some")
    got = petcdctl(capsys, case["args"])
    want = {k: case[k] for k in ("stdout", "stderr", "exit")}
    if got["stdout"].startswith("NAME:") and not same_subcommands(
            " ".join(arg_errors.command_path(ctl, case["args"], set()))):
        pytest.skip("the usage lists commands petcdctl does not have yet")
    assert got == want


@pytest.mark.parametrize("path", [p for p in petcdctl_paths() if p in RECORDED["help"]])
def test_help_matches_etcdctl(capsys, path):
    if not same_subcommands(path):
        pytest.skip(f"etcdctl's {path} has subcommands petcdctl lacks")
    got = petcdctl(capsys, [*path.split(" "), "--help"])
    assert got == {"stdout": RECORDED["help"][path], "stderr": "", "exit": 0}


def test_flags_are_etcdctls():
    """Every flag etcdctl documents for a command exists in petcdctl, and petcdctl has no
    visible flag etcdctl lacks (the usage text would otherwise lie)."""
    def names(spec) -> set[str]:
        return {re.search(r"--([\w-]+)", f).group(1) for f, _ in spec["flags"]} - {"help"}

    for path in petcdctl_paths():
        cmd = ctl
        for name in path.split(" "):
            cmd = cmd.commands[name]
        spec = usage_table.COMMANDS.get(path)
        if spec is None or isinstance(cmd, click.Group):
            continue
        ours = {max(p.opts, key=len)[2:] for p in cmd.params
                if isinstance(p, click.Option) and not p.hidden}
        theirs = names(spec)
        words = path.split(" ")
        for i in range(1, len(words)):  # a group's flags are its subcommands' too
            theirs |= names(usage_table.COMMANDS.get(" ".join(words[:i]), {"flags": []}))
        assert ours == theirs, path


def test_tabwriter_reproduces_etcdctls_layout():
    # etcdctl's template puts one tab between columns; its tabwriter does the rest
    for path, text in RECORDED["help"].items():
        if not path.startswith("completion"):  # those descriptions hold tabs of their own
            assert align(re.sub(r"\t+", "\t", text)) == text, path


def test_suggestions_are_cobras():
    assert arg_errors.suggestions("x", ["txn", "put", "get"]) == ["txn"]
    assert arg_errors.suggestions("gett", ["get", "put"]) == ["get"]
    assert arg_errors.suggestions("mem", ["member", "move-leader"]) == ["member"]
