"""The modem core under the real MicroPython unix port: shared vectors, and the beacon build budget."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.board_process import find_micropython

REPO = Path(__file__).resolve().parents[2]
MICROPYTHON = find_micropython()

pytestmark = pytest.mark.micropython


def _run(*args, heap="512K"):
    return subprocess.run([MICROPYTHON, "-X", f"heapsize={heap}", *args], capture_output=True,
                          text=True, check=False, timeout=120, cwd=REPO)


def test_core_vectors_under_micropython():
    done = _run(str(REPO / "tests/lifi/mpy_check.py"), str(REPO))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "ALL OK"
    assert sum(line.startswith("PASS ") for line in lines) >= 10


def test_dimmed_beacon_builds_and_decodes_in_a_small_heap():
    # 160 KB on the 64-bit unix port: compiling the modules from source takes ~41 KB of it and every
    # object is twice its size on the 32-bit ESP32 (whose firmware loads precompiled .mpy files).
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from protocols.lifi import frame\n"
        "b = frame.FrameBuilder('ook-11.67k', 32, dim=0.4)\n"
        "chips = b.build(bytes(range(32)))\n"
        "print(frame.parse_chips(bytes(chips), 'ook-11.67k') == bytes(range(32)))\n"
    )
    done = _run("-c", script, heap="160K")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "True"


def test_bench_script_reports_allocation_within_budget():
    done = subprocess.run([sys.executable, str(REPO / "tools/lifi_mpy_bench.py"), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["payload_bytes"] == 32
    for key in ("ook-11.67k", "ook-48.89k", "ook-11.67k-dim30"):
        assert figures[key + ".chips"] > 1000
        assert isinstance(figures[key + ".build_us"], int)
        # preallocated builder: a beacon costs a few hundred bytes, far below the 8 KB budget
        assert figures[key + ".alloc_bytes"] < 8192
