"""`petcd cluster --size 3` starts a working local cluster and stops it on SIGTERM."""
import json
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.integration


def _free_offset() -> int:
    """A port offset whose nine ports are free and below the kernel's ephemeral range.

    infra3's ports are 32378..32380 + offset; above 32767 they may collide with the
    ephemeral ports of other tests' connections (a CI run failed that way).
    """
    for _ in range(100):
        offset = random.randrange(10, 129) * 3
        ports = [b + offset + d for b in (2379, 22379, 32379) for d in (-1, 0, 1)]
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return offset
    raise AssertionError("no free port offset")


@pytest.mark.slow
def test_dev_cluster(tmp_path):
    offset = _free_offset()
    log = open(tmp_path / "cluster.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "petcd.supervisor", "cluster", "--size", "3",
                             "--port-offset", str(offset)], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while b"cluster of 3 ready" not in (tmp_path / "cluster.log").read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "cluster.log").read_text()[-2000:]
            time.sleep(0.1)
        url = f"http://127.0.0.1:{22379 + offset}/v3/cluster/member/list"
        body = json.loads(urllib.request.urlopen(urllib.request.Request(
            url, data=b"{}", method="POST"), timeout=10).read())
        assert sorted(m["name"] for m in body["members"]) == ["infra1", "infra2", "infra3"]
        assert sorted(p.name for p in tmp_path.glob("infra*.petcd")) == \
            ["infra1.petcd", "infra2.petcd", "infra3.petcd"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
