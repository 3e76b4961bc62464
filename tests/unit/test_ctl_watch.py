"""petcdctl watch's pure parts against etcdctl 3.4's watch_command.go: the arguments of the
command line and of interactive lines, the split of an interactive line, the printed forms
of a response (a canceled one too) and the environment of the command run per event."""
from __future__ import annotations

import json

import pytest

from petcd.common.kv import Event, EventType, KeyValue, ResponseHeader, WatchResponse
from petcd.ctl.cli import CtlExit, _load_commands, run

_load_commands()
from petcd.ctl.cmd_watch import (  # noqa: E402  (after the commands load)
    ERR_BAD_ARGS_NUM, ERR_CONFLICT_ENV, ERR_INTERACTIVE, ERR_PREFIX_RANGE, ERR_SEPARATOR,
    GoPanic, WatchArgsError, WatchOptions, _line_flags, argify, cancel_reason, exec_env,
    format_response, parse_watch_args, watch_range,
)

CTL = ["./bin/etcdctl"]


@pytest.mark.parametrize("os_args, command_args, env_key, env_range, want", [
    (["watch", "foo", "bar"], ["foo", "bar"], "", "", (["foo", "bar"], [])),
    (["watch", "foo", "--", "echo", "hi"], ["foo", "echo", "hi"], "", "",
     (["foo"], ["echo", "hi"])),
    (["watch", "foo", "--rev", "1", "bar", "--", "echo", "hi"], ["foo", "bar", "echo", "hi"],
     "", "", (["foo", "bar"], ["echo", "hi"])),
    (["--endpoints", "e", "watch", "w1", "--rev", "1", "--", "sh", "-c", "echo $X"],
     ["w1", "sh", "-c", "echo $X"], "", "", (["w1"], ["sh", "-c", "echo $X"])),
    # the command's arguments repeat the key: cut at the last occurrence of its first word
    (["watch", "echo", "--", "echo", "x"], ["echo", "echo", "x"], "", "",
     (["echo"], ["echo", "x"])),
    (["watch", "--", "echo", "hi"], ["echo", "hi"], "", "", ([], ["echo", "hi"])),
    (["watch", "--rev", "1", "--", "echo", "hi"], ["echo", "hi"], "foo", "bar",
     (["foo", "bar"], ["echo", "hi"])),
    (["watch"], [], "foo", "", (["foo"], [])),
    (["watch", "a", "b", "c"], ["a", "b", "c"], "", "", (["a", "b", "c"], [])),
])
def test_command_line(os_args, command_args, env_key, env_range, want):
    assert parse_watch_args(CTL + os_args, command_args, env_key, env_range) == (*want, None)


@pytest.mark.parametrize("os_args, command_args, env_key, message", [
    (["watch"], [], "", ERR_BAD_ARGS_NUM),
    (["watch", "foo", "--"], ["foo"], "", ERR_SEPARATOR),
    (["watch", "foo"], ["foo"], "foo", ERR_CONFLICT_ENV),
    (["watch", "foo", "--", "echo", "1"], ["foo", "echo", "1"], "foo", ERR_CONFLICT_ENV),
])
def test_command_line_errors(os_args, command_args, env_key, message):
    with pytest.raises(WatchArgsError, match=f"^{message.replace('(', '.').replace(')', '.')}$"):
        parse_watch_args(CTL + os_args, command_args, env_key)


@pytest.mark.parametrize("line, env_key, want", [
    (["watch", "foo"], "", (["foo"], [], WatchOptions())),
    (["watch", "w1", "--rev", "1"], "", (["w1"], [], WatchOptions(rev=1))),
    (["watch", "--prefix", "--rev=3", "w", "--prev-kv"], "",
     (["w"], [], WatchOptions(prefix=True, rev=3, prev_kv=True))),
    (["watch", "foo", "--rev", "1", "--", "echo", "Hello", "World"], "",
     (["foo"], ["echo", "Hello", "World"], WatchOptions(rev=1))),
    (["watch", "--rev", "2", "--", "echo", "x"], "foo", (["foo"], ["echo", "x"],
                                                         WatchOptions(rev=2))),
])
def test_interactive_line(line, env_key, want):
    assert parse_watch_args(["watch", "-i"], line, env_key, "", True, _line_flags) == want


@pytest.mark.parametrize("line, message", [
    (["get", "foo"], ERR_INTERACTIVE),
    (["watch", "--rev", "4"], ERR_BAD_ARGS_NUM),
    (["watch", "w1", "--"], ERR_SEPARATOR),
    (["watch", "w1", "--bogus"], "unknown flag: --bogus"),
    (["watch", "w1", "-w", "json"], "unknown shorthand flag: 'w' in -w"),
    (["watch", "w1", "-h"], "pflag: help requested"),
    (["watch", "w1", "--rev", "x"],
     'invalid argument "x" for "--rev" flag: strconv.ParseInt: parsing "x": invalid syntax'),
])
def test_interactive_line_errors(line, message):
    with pytest.raises(WatchArgsError) as e:
        parse_watch_args(["watch", "-i"], line, "", "", True, _line_flags)
    assert str(e.value) == message


def test_range():
    assert watch_range(["a"], False) == ("a", None)
    assert watch_range(["a", "b"], False) == ("a", "b")
    assert watch_range(["a", "b", "c"], True) == ("a", None)  # etcdctl ignores a third
    for args, prefix, message in (([], False, ERR_BAD_ARGS_NUM), (["a", "b"], True,
                                                                 ERR_PREFIX_RANGE)):
        with pytest.raises(WatchArgsError) as e:
            watch_range(args, prefix)
        assert str(e.value) == message


def test_argify():
    assert argify("watch  w1 --rev 1") == ["watch", "w1", "--rev", "1"]
    assert argify('watch "w\\x31 x" --prefix') == ["watch", "w1 x", "--prefix"]
    assert argify("") == []
    # etcdctl 3.4 slices a single-quoted word to len(words)-1: right only by chance
    assert argify("watch 'w9' --rev 7") == ["watch", "w9", "--rev", "7"]
    assert argify("watch 'abcdef'") == ["watch", ""]
    assert argify("watch 'abcdef' x y") == ["watch", "ab", "x", "y"]
    with pytest.raises(GoPanic, match=r"slice bounds out of range \[:4\] with length 2"):
        argify("watch --rev 4 --prefix ''")
    with pytest.raises(ValueError, match="^invalid syntax$"):
        argify('watch "\\z"')


def _resp(**kw) -> WatchResponse:
    return WatchResponse(header=ResponseHeader(cluster_id=1, member_id=2, revision=kw.pop(
        "revision", 0), raft_term=3), **kw)


def test_canceled_response_forms():
    r = _resp(canceled=True, compact_revision=4)
    assert format_response("json", r, False) == (
        '{"Header":{"cluster_id":1,"member_id":2,"raft_term":3},"Events":[],'
        '"CompactRevision":4,"Canceled":true,"Created":false}\n')
    assert format_response("simple", r, False) == ""
    assert format_response("fields", r, False) == (
        '"ClusterID" : 1\n"MemberID" : 2\n"Revision" : 0\n"RaftTerm" : 3\n')
    with pytest.raises(CtlExit) as e:
        format_response("table", r, False)
    assert (e.value.code, e.value.message) == (4, "table not supported as output format")
    assert cancel_reason(r) == "etcdserver: mvcc: required revision has been compacted"
    assert cancel_reason(_resp(canceled=True)) == \
        "etcdserver: mvcc: required revision is a future revision"
    assert cancel_reason(_resp(canceled=True, cancel_reason="etcdserver: permission denied")) \
        == "etcdserver: permission denied"
    assert cancel_reason(_resp(canceled=True, cancel_reason="nope")) == \
        "rpc error: code = FailedPrecondition desc = nope"


def test_events_json_and_exec_env():
    put = Event(type=EventType.PUT, kv=KeyValue(key=b"w1", create_revision=2, mod_revision=2,
                                                version=1, value=b'a "b"'))
    dele = Event(type=EventType.DELETE, kv=KeyValue(key=b"w1", mod_revision=3))
    r = _resp(revision=3, events=(put, dele))
    doc = json.loads(format_response("json", r, False))
    assert list(doc) == ["Header", "Events", "CompactRevision", "Canceled", "Created"]
    assert doc["Events"] == [
        {"kv": {"key": "dzE=", "create_revision": 2, "mod_revision": 2, "version": 1,
                "value": "YSAiYiI="}},
        {"type": 1, "kv": {"key": "dzE=", "mod_revision": 3}}]
    assert exec_env(r, put) == {"ETCD_WATCH_REVISION": "3", "ETCD_WATCH_EVENT_TYPE": '"PUT"',
                                "ETCD_WATCH_KEY": '"w1"', "ETCD_WATCH_VALUE": '"a \\"b\\""'}
    assert exec_env(r, dele)["ETCD_WATCH_EVENT_TYPE"] == '"DELETE"'
    assert exec_env(r, dele)["ETCD_WATCH_VALUE"] == '""'


@pytest.mark.parametrize("args, message", [
    (["watch"], ERR_BAD_ARGS_NUM), (["watch", "a", "b", "--prefix"], ERR_PREFIX_RANGE),
    (["watch", "w1", "--"], ERR_SEPARATOR), (["watch", "--", "echo", "hi"], ERR_BAD_ARGS_NUM),
])
def test_argument_errors_do_not_dial(capsys, monkeypatch, args, message):
    monkeypatch.delenv("ETCDCTL_WATCH_KEY", raising=False)
    monkeypatch.delenv("ETCDCTL_WATCH_RANGE_END", raising=False)
    assert run(["--endpoints", "127.0.0.1:1", *args]) == 128
    cap = capsys.readouterr()
    assert (cap.out, cap.err) == ("", f"Error: {message}\n")


def test_range_end_without_key(capsys, monkeypatch):
    monkeypatch.delenv("ETCDCTL_WATCH_KEY", raising=False)
    monkeypatch.setenv("ETCDCTL_WATCH_RANGE_END", "z")
    assert run(["--endpoints", "127.0.0.1:1", "watch", "a"]) == 128
    assert capsys.readouterr().err == \
        'Error: ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END="z"\n'
