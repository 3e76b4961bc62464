"""Replays every transcript in testdata/; `pytest --rewrite` regenerates their outputs."""
from pathlib import Path

import pytest

from .transcript import run_file

TESTDATA = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.txt")), ids=lambda p: p.stem)
def test_transcript(path, request):
    mismatches = run_file(path, rewrite=request.config.getoption("--rewrite"))
    for block, got in mismatches:
        print(f"{path.name}:{block.line_no}: {block.command}\n--- expected\n{block.expected}"
              f"\n--- got\n{got}")
    assert not mismatches, f"{len(mismatches)} block(s) differ in {path.name}"
