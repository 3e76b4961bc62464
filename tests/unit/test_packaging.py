"""The top-level folders are installed under the single import root `petcd`."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_folders_map_under_petcd():
    import petcd.common
    import petcd.stages.raft

    assert Path(petcd.common.__file__).resolve().parent == REPO / "common"
    assert Path(petcd.stages.raft.__file__).resolve().parent == REPO / "stages" / "raft"

