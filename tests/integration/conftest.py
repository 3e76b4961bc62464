from concurrent.futures import ThreadPoolExecutor

import pytest

from .member import Member, free_port
from .proxy import LinkProxy


@pytest.fixture
def start_member(tmp_path):
    """start_member(name=..., extra_args=...) -> a running Member; all are stopped after."""
    started: list[Member] = []

    def start(name: str = "m1", extra_args: tuple[str, ...] = ()) -> Member:
        m = Member(tmp_path, name, extra_args)
        started.append(m)
        return m.start()

    yield start
    for m in started:
        m.stop()


@pytest.fixture
def launch_members(tmp_path):
    """launch_members(name, count, extra_args) -> `count` running Members named `name`, each
    a cluster of its own in a directory of its own, started at once (their start-up
    overlaps); all are stopped together after."""
    started: list[Member] = []

    def launch(name: str, count: int, extra_args: tuple[str, ...] = ()) -> list[Member]:
        members = []
        for _ in range(count):
            base = tmp_path / str(len(started) + len(members))
            base.mkdir()
            members.append(Member(base, name, extra_args))
        started.extend(members)
        for m in members:
            m.launch()
        return [m.wait_ready() for m in members]

    yield launch
    if started:
        with ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(Member.stop, started))


@pytest.fixture
def start_cluster(tmp_path):
    """start_cluster(size) -> a list of running Members forming one cluster; all stopped after."""
    started: list[Member] = []
    all_proxies: list = []

    def start(size: int = 3, extra_args: tuple[str, ...] = (),
              proxies: dict | None = None) -> list[Member]:
        """With `proxies` (a dict to fill), every directed peer link (a, b) goes through its
        own LinkProxy, stored as proxies[(a, b)]."""
        names = [f"c{i}" for i in range(1, size + 1)]
        ports = {n: free_port() for n in names}
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in ports.items())
        members = []
        for n in names:
            args = ["--initial-cluster", cluster, *extra_args]
            if proxies is not None:
                dials = []
                for other in names:
                    if other != n:
                        proxies[(n, other)] = LinkProxy(ports[other])
                        dials.append(f"{other}=tcp://127.0.0.1:{proxies[(n, other)].port}")
                args += ["--peer-dial-overrides", ",".join(dials)]
            members.append(Member(tmp_path, n, tuple(args), peer_port=ports[n]))
        if proxies is not None:
            all_proxies.extend(proxies.values())
        started.extend(members)
        for m in members:
            m.launch()
        return [m.wait_ready() for m in members]

    yield start
    for m in started:
        m.stop()
    for p in all_proxies:
        p.close()
