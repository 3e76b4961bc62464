"""stages/api/member_memory.py: the member's memory is its supervisor's plus its children's."""
from __future__ import annotations

import os
import subprocess
import sys

from petcd.stages.api import member_memory as mm


def test_children_are_counted():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             stdin=subprocess.DEVNULL)
    try:
        assert child.pid in mm.member_pids(os.getpid())
        alone = mm.process_resident_bytes(os.getpid())
        assert alone > 0
        assert mm.member_resident_bytes(os.getpid()) > alone
    finally:
        child.kill()
        child.wait()


def test_a_missing_process_counts_zero():
    assert mm.process_resident_bytes(2 ** 22 + 12345) == 0
