"""Bad input gets etcd's error and the member keeps serving, with nothing half-applied."""
import base64
import json
import socket

import pytest

pytestmark = pytest.mark.integration


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_a_huge_body_is_refused_without_stopping_the_member(start_member):
    m = start_member(name="huge")
    body = json.dumps({"key": b64(b"k"), "value": "A" * (16 * 1024 * 1024)}).encode()
    status, _, data = m.request("POST", "/v3/kv/put", body)
    assert status == 429
    err = json.loads(data)
    assert err["code"] == 8 and err["message"].startswith("grpc: received message larger")
    assert m.post("/v3/kv/range", {"key": b64(b"k")}) [1].get("kvs") is None
    assert m.post("/v3/kv/put", {"key": b64(b"k"), "value": b64(b"v")})[0] == 200


def test_garbage_on_the_http_port_does_not_stop_the_member(start_member):
    m = start_member(name="garbage")
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /v3/kv/put HTTP/1.1\r\n"
                 b"Content-Length: 99999\r\n\r\n{"):
        with socket.create_connection(("127.0.0.1", m.client_port), timeout=5) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(1024)
            except OSError:
                pass
    for raw in (b'{"key": 1}', b'{"key":"!!"}', b"[1,2]", b"{", b'{"key":"YQ==","lease":"x"}'):
        status, _, data = m.request("POST", "/v3/kv/put", raw)
        assert status == 400 and json.loads(data)["code"] == 3, (raw, data)
    assert m.post("/v3/kv/put", {"key": b64(b"ok"), "value": b64(b"1")})[0] == 200
    status, body = m.post("/v3/kv/range", {"key": b64(b"\0"), "range_end": b64(b"\0")})
    assert body["count"] == "1"  # none of the bad requests left anything behind
