import pytest

from .member import Member


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
