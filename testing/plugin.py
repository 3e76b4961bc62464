"""pytest fixtures for code that uses petcd. Enable with `pytest_plugins = ["petcd.testing.plugin"]`
in a conftest.py (or `-p petcd.testing.plugin`).

- `petcd_member`: a started ThrowawayMember (one per test, in the test's tmp dir), stopped
  after the test whatever happened.
- `petcd_client`: a petcd.client.Client on that member over HTTP.
- `petcd_native_client`: the same over the native ZeroMQ protocol.
"""
from __future__ import annotations

import pytest

from petcd.client import Client
from .member import ThrowawayMember


@pytest.fixture
def petcd_member(tmp_path):
    m = ThrowawayMember(tmp_path).start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def petcd_client(petcd_member):
    with Client(petcd_member.http_endpoint) as c:
        yield c


@pytest.fixture
def petcd_native_client(petcd_member):
    with Client(petcd_member.zmq_endpoint) as c:
        yield c
