import pytest

from .member import Member, free_port


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
def start_cluster(tmp_path):
    """start_cluster(size) -> a list of running Members forming one cluster; all stopped after."""
    started: list[Member] = []

    def start(size: int = 3, extra_args: tuple[str, ...] = ()) -> list[Member]:
        names = [f"c{i}" for i in range(1, size + 1)]
        ports = {n: free_port() for n in names}
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in ports.items())
        members = [Member(tmp_path, n, ("--initial-cluster", cluster, *extra_args),
                          peer_port=ports[n]) for n in names]
        started.extend(members)
        for m in members:
            m.launch()
        return [m.wait_ready() for m in members]

    yield start
    for m in started:
        m.stop()
