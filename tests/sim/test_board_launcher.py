"""The compiled board launcher runs the same unix port as the `micropython` script, without a CPython
interpreter around it: same interpreter, arguments, exit status and board behaviour, a smaller process."""

import os
import subprocess

import pytest

from sim.board_process import board_interpreter, build_launcher, find_micropython

pytestmark = pytest.mark.micropython


@pytest.fixture(scope="module")
def launcher():
    path = build_launcher()
    if path is None:
        pytest.skip("no C compiler or shared libpython: boards run under the micropython script")
    return path


def test_launcher_runs_the_unix_port_with_its_arguments_and_exit_status(launcher, tmp_path):
    script = "import sys, gc\nprint(sys.implementation.name, sys.argv[1:], gc.mem_free() < 70000)\nsys.exit(3)\n"
    (tmp_path / "probe.py").write_text(script)
    ran = subprocess.run([launcher, "-X", "heapsize=64K", "probe.py", "a", "b"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=30, check=False)
    wrapped = subprocess.run([find_micropython(), "-X", "heapsize=64K", "probe.py", "a", "b"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=30, check=False)
    assert ran.stdout == wrapped.stdout == "micropython ['a', 'b'] True\n"
    assert ran.returncode == wrapped.returncode == 3


def test_launcher_process_is_smaller_than_the_cpython_hosted_one(launcher, tmp_path):
    script = "print(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])\n"
    (tmp_path / "rss.py").write_text(script)
    sizes = [int(subprocess.run([cmd, "rss.py"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                                check=True).stdout) for cmd in (launcher, find_micropython())]
    assert sizes[0] < sizes[1]


def test_a_write_to_a_closed_pipe_is_an_error_not_a_death(launcher, tmp_path):
    # The CPython wrapper ignores SIGPIPE, so a board writing to a socket the broker closed gets EPIPE;
    # under the launcher too. Here the reader of its stdout goes away mid-stream.
    (tmp_path / "spam.py").write_text("import sys\ntry:\n    for i in range(200000):\n        print('x' * 64)\n"
                                      "except OSError as exc:\n    sys.stderr.write('EPIPE %d\\n' % exc.errno)\n")
    proc = subprocess.Popen([launcher, "spam.py"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(1024)
    proc.stdout.close()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != -13, "killed by SIGPIPE"
    assert b"EPIPE 32" in err


def test_wrapper_is_chosen_when_asked(monkeypatch):
    monkeypatch.setenv("RVB_BOARD_LAUNCHER", "wrapper")
    assert board_interpreter() == find_micropython()
    monkeypatch.setenv("RVB_BOARD_LAUNCHER", "auto")
    assert os.path.basename(board_interpreter()).startswith(("mp-launcher-", "micropython"))
