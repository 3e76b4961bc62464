"""etcd's Python gRPC clients, unmodified, against a petcd member: python-etcd3 (grpcio) and
aetcd (grpcio, asyncio). Each runs in a subprocess of its own: both register etcd's .proto
under etcd's file names in protobuf's default pool, which petcd's own modules share in this
process. python-etcd3's generated modules predate protobuf 4 and need its pure-Python runtime
(as python-etcd3's own documentation says)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from .member import Member

pytestmark = pytest.mark.integration

ETCD3 = """
import threading, etcd3
c = etcd3.client(port={port})
c.put("py/a", "x")
value, meta = c.get("py/a")
assert value == b"x" and meta.version == 1, (value, meta.version)
assert c.status().version == "3.4.23"
ok, _ = c.transaction(compare=[c.transactions.value("py/a") == "x"],
                      success=[c.transactions.put("py/b", "y")], failure=[])
assert ok
assert sorted(v for v, _ in c.get_prefix("py/")) == [b"x", b"y"]
lease = c.lease(30)
assert lease.ttl == 30 and lease.refresh()[0].TTL == 30
events, cancel = c.watch("py/w")
threading.Timer(0.2, lambda: c.put("py/w", "1")).start()
for ev in events:
    assert (ev.key, ev.value) == (b"py/w", b"1")
    cancel()
with c.lock("py-lock", ttl=10) as lock:
    assert lock.is_acquired()
assert [m.name for m in c.members] == ["pyc"]
assert c.delete_prefix("py/").deleted == 3
print("ok")
"""

AETCD = """
import asyncio, aetcd
async def main():
    async with aetcd.Client(port={port}) as c:
        await c.put(b"ae/a", b"1")
        got = await c.get(b"ae/a")
        assert got.value == b"1"
        assert (await c.status()).version == "3.4.23"
        lease = await c.lease(30)
        assert lease.id > 0
        watch = await c.watch(b"ae/w")
        await c.put(b"ae/w", b"2")
        async for ev in watch:
            assert (ev.kv.key, ev.kv.value) == (b"ae/w", b"2")
            break
        assert [kv.key for kv in await c.get_prefix(b"ae/")] == [b"ae/a", b"ae/w"]
    print("ok")
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    m = Member(tmp_path_factory.mktemp("pyclients"), "pyc")
    m.start()
    yield m
    m.stop()


@pytest.mark.parametrize("script, env", [
    (ETCD3, {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}), (AETCD, {})],
    ids=["python-etcd3", "aetcd"])
def test_python_grpc_client_works_unmodified(member, script, env):
    code = textwrap.dedent(script).format(port=member.client_port)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **env})
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-3000:]
