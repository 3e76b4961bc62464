"""An idle `etcdctl watch` and `etcdctl lease keep-alive` stay connected over gRPC: after
three quiet minutes the watch still sees a put and the keep-alive still renews (etcd's
keepalive settings: the server pings after --grpc-keepalive-interval and never cuts a client
off for pinging). Slow: `pytest -m slow tests/integration/test_grpc_idle.py`."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IDLE_S = 180


def test_idle_watch_and_keep_alive_stay_connected(start_member, tmp_path):
    etcdctl = shutil.which("etcdctl")
    if etcdctl is None:
        pytest.skip("needs etcdctl: apt-get install -y etcd-client")
    m = start_member(name="idle")
    env = dict(os.environ, ETCDCTL_API="3")
    ep = ["--endpoints", f"127.0.0.1:{m.client_port}"]
    grant = subprocess.run([etcdctl, *ep, "lease", "grant", "60"], capture_output=True,
                           text=True, env=env, timeout=30)
    lease = grant.stdout.split()[1]
    watch_out, keep_out = tmp_path / "watch.out", tmp_path / "keep.out"
    with open(watch_out, "w") as w, open(keep_out, "w") as k:
        watch = subprocess.Popen([etcdctl, *ep, "watch", "idle-key"], stdout=w,
                                 stderr=subprocess.STDOUT, env=env)
        keep = subprocess.Popen([etcdctl, *ep, "lease", "keep-alive", lease], stdout=k,
                                stderr=subprocess.STDOUT, env=env)
    try:
        time.sleep(IDLE_S)  # the point of the test: three minutes with nothing to say
        assert watch.poll() is None and keep.poll() is None
        renewed = keep_out.read_text().count("keepalived")
        subprocess.run([etcdctl, *ep, "put", "idle-key", "after"], env=env, timeout=30,
                       check=True, capture_output=True)
        deadline = time.monotonic() + 20
        while "after" not in watch_out.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watch_out.read_text().splitlines()[-3:] == ["PUT", "idle-key", "after"]
        while keep_out.read_text().count("keepalived") <= renewed and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert keep_out.read_text().count("keepalived") > renewed
        assert "Error" not in keep_out.read_text() + watch_out.read_text()
    finally:
        for p in (watch, keep):
            p.terminate()
            p.wait(timeout=10)
