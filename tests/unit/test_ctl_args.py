"""petcdctl's numeric arguments and commands run for etcdctl (lock, watch) as etcdctl 3.4
reads and reports them: Go's strconv errors, exec's errors, and the argument errors of lease,
lock and elect, which never dial."""
from __future__ import annotations

import sys

import pytest

from petcd.ctl.arg_errors import parse_int
from petcd.ctl.cli import _load_commands, run, run_command

_load_commands()


@pytest.mark.parametrize("text, base, want", [
    ("60", 10, 60), ("+5", 10, 5), ("-5", 10, -5), ("ff", 16, 255), ("7FFFFFFFFFFFFFFF", 16,
                                                                     (1 << 63) - 1),
])
def test_parse_int(text, base, want):
    assert parse_int(text, base) == want


@pytest.mark.parametrize("text, base, why", [
    ("x", 10, "invalid syntax"), ("", 10, "invalid syntax"), ("1_0", 10, "invalid syntax"),
    (" 1", 10, "invalid syntax"), ("0x10", 16, "invalid syntax"), ("ff", 10, "invalid syntax"),
    ("99999999999999999999", 10, "value out of range"),
    ("8000000000000000", 16, "value out of range"),
])
def test_parse_int_errors(text, base, why):
    with pytest.raises(ValueError) as e:
        parse_int(text, base)
    assert str(e.value) == f'strconv.ParseInt: parsing "{text}": {why}'


def test_run_command_errors():
    assert run_command([sys.executable, "-c", "pass"]) == ""
    assert run_command([sys.executable, "-c", "raise SystemExit(3)"]) == "exit status 3"
    assert run_command(["no-such-command-here"]) == \
        'exec: "no-such-command-here": executable file not found in $PATH'
    assert run_command(["./no/such/file"]) == "fork/exec ./no/such/file: no such file or directory"
    assert run_command([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"]) == \
        "signal: killed"


@pytest.mark.parametrize("args, message", [
    (["lease", "grant", "x"], 'bad TTL (strconv.ParseInt: parsing "x": invalid syntax)'),
    (["lease", "grant", "99999999999999999999"],
     'bad TTL (strconv.ParseInt: parsing "99999999999999999999": value out of range)'),
    (["lease", "revoke", "zz"],
     'bad lease ID arg (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex'),
    (["lease", "timetolive", "0x10"],
     'bad lease ID arg (strconv.ParseInt: parsing "0x10": invalid syntax), expecting ID in Hex'),
    (["lock"], "lock takes a lock name argument and an optional command to execute"),
    (["elect"], "elect takes one election name argument and an optional proposal argument"),
    (["elect", "a", "b", "c"],
     "elect takes one election name argument and an optional proposal argument"),
    (["elect", "myelect"], "no proposal argument but -l not set"),
    (["elect", "-l", "myelect", "p1"], "proposal given but -l is set"),
])
def test_argument_errors(capsys, args, message):
    assert run(["--endpoints", "127.0.0.1:1", *args]) == 128
    cap = capsys.readouterr()
    assert (cap.out, cap.err) == ("", f"Error: {message}\n")
