"""The pure parts of the Cluster service's changes: peer URL checks (server and client), what
a learner serves, the gateway JSON of the new messages."""
import json

import pytest

from petcd.client import convert, errors
from petcd.client.urls import check_peer_urls
from petcd.common import cluster, kv
from petcd.common.errors import ErrMemberBadURLs, EtcdError
from petcd.common.ids import member_id
from petcd.stages.api.http import app as http, gateway_json  # noqa: F401  (app registers the messages)
from petcd.stages.api.learner import refuses
from petcd.stages.api.member_service import parse_peer_urls


def test_server_takes_urls_it_can_dial_and_keeps_them_sorted():
    assert parse_peer_urls((" http://b:2", "tcp://a:1")) == ("http://b:2", "tcp://a:1")
    assert parse_peer_urls(("https://b:2", "http://a:1")) == ("http://a:1", "https://b:2")
    for bad in ((), ("foo",), ("http://a",), ("http://a:1/x",), ("unix://a:1",),
                ("http://a:port",)):
        with pytest.raises(EtcdError) as e:
            parse_peer_urls(bad)
        assert e.value == ErrMemberBadURLs, bad


def test_client_checks_urls_with_etcd_clientv3_messages():
    assert check_peer_urls((" http://a:1 ", "unix://s:1")) == ("http://a:1", "unix://s:1")
    cases = {"foo": "URL scheme must be http, https, unix, or unixs: foo",
             "http://a": 'URL address does not have the form "host:port": http://a',
             "http://a:1/x": "URL must not contain a path: http://a:1/x"}
    for url, message in cases.items():
        with pytest.raises(errors.InvalidArgument) as e:
            check_peer_urls((url,))
        assert e.value.message == message
    assert check_peer_urls(("http://[::1]:2",)) == ("http://[::1]:2",)


def test_a_new_members_id_is_etcds_hash_of_its_urls_and_the_second():
    assert member_id(["http://a:1"], "", 1700000000) != member_id(["http://a:1"], "", 1700000001)
    assert member_id(["b", "a"], "", 5) == member_id(["a", "b"], "", 5)


def test_a_learner_serves_status_and_serializable_ranges_only():
    assert not refuses(cluster.StatusRequest())
    assert not refuses(kv.RangeRequest(key=b"a", serializable=True))
    for req in (kv.RangeRequest(key=b"a"), kv.PutRequest(key=b"a"), cluster.MemberListRequest(),
                cluster.MemberAddRequest(), cluster.HashKVRequest(), None):
        assert refuses(req), req


def test_gateway_json_of_a_member_add():
    req = gateway_json.decode(cluster.MemberAddRequest,
                              b'{"peerURLs":["http://a:1"],"isLearner":true}')
    assert req == cluster.MemberAddRequest(("http://a:1",), True)
    assert gateway_json.decode(cluster.MemberRemoveRequest, b'{"ID":"18446744073709551615"}') \
        == cluster.MemberRemoveRequest(2 ** 64 - 1)
    new = cluster.Member(2 ** 64 - 1, "", ("http://a:1",), (), True)
    resp = cluster.MemberAddResponse(kv.ResponseHeader(1, 2, 0, 3), new, (new,))
    assert json.loads(gateway_json.encode(resp)) == {
        "header": {"cluster_id": "1", "member_id": "2", "raft_term": "3"},
        "member": {"ID": "18446744073709551615", "peerURLs": ["http://a:1"], "isLearner": True},
        "members": [{"ID": "18446744073709551615", "peerURLs": ["http://a:1"],
                     "isLearner": True}]}
    # The client writes what the gateway reads.
    assert convert.dump(cluster.MemberUpdateRequest(7, ("http://a:1",)), "gateway") == {
        "ID": "7", "peerURLs": ["http://a:1"]}
