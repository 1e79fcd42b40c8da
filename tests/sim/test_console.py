"""The serial console of a simulated board: friendly REPL, raw REPL, raw-paste, resets, over a real pty
with the real MicroPython interpreter, and mpremote against it."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.sim.conftest import Port, mpremote

pytestmark = pytest.mark.micropython


def enter_raw(port: Port) -> None:
    port.write(b"\r\x03\r\x01")
    port.read_until(b"raw REPL; CTRL-B to exit\r\n>")


def test_friendly_repl_evaluates_and_echoes(console):
    console.write(b"6*7\r")
    assert console.read_until(b">>> ").endswith(b"6*7\r\n42\n>>> ")
    console.write(b"for i in range(3):\r    print(i * 10)\r\r")
    out = console.read_until(b">>> ")
    assert b"... " in out and b"0\n10\n20\n" in out


def test_friendly_repl_reports_errors_and_keeps_serving(console):
    console.write(b"undefined_name\r")
    out = console.read_until(b">>> ")
    assert b"NameError" in out
    console.write(b"x = 5\rx + 1\r")
    assert b"6\n" in console.read_until(b"6\n")


def test_raw_repl_framing_matches_pyexec(console):
    enter_raw(console)
    console.write(b"print('a')\nprint('b')\x04")
    assert console.read_until(b">") == b"OKa\nb\n\x04\x04>"
    console.write(b"1/0\x04")
    reply = console.read_until(b"\x04>")
    assert reply.startswith(b"OK\x04") and b"ZeroDivisionError" in reply
    console.write(b"\x02")
    assert b"Type \"help()\"" in console.read_until(b">>> ")


def test_raw_paste_grants_windows_and_runs_the_source(console):
    enter_raw(console)
    console.write(b"\x05A\x01")
    header = console.read_exact(5)
    assert header[:2] == b"R\x01" and header[4:] == b"\x01"
    window = int.from_bytes(header[2:4], "little")
    assert window == 128
    source = b"".join(b"v%d = %d\n" % (i, i) for i in range(60)) + b"print(v59 + v1)\n"
    assert len(source) > 2 * window
    grants, sent = 2, 0
    while sent < len(source):
        if sent + window > grants * window:
            assert console.read_until(b"\x01", timeout=5).endswith(b"\x01")
            grants += 1
        chunk = source[sent:sent + window]
        console.write(chunk)
        sent += len(chunk)
    console.write(b"\x04")
    console.read_until(b"\x04")
    assert console.read_until(b"\x04>") == b"60\n\x04\x04>"


def test_mpremote_exec_fs_and_deploy(blank_board, tmp_path):
    assert mpremote(blank_board.port, "exec", "print(6 * 7)").strip() == "42"
    listing = mpremote(blank_board.port, "fs", "ls")
    assert "boot.py" in listing and "main.py" not in listing
    app = tmp_path / "hello.py"
    app.write_text("GREETING = 'bonjour'\n")
    mpremote(blank_board.port, "fs", "cp", str(app), ":hello.py")
    assert (blank_board.board_dir / "hello.py").read_text() == "GREETING = 'bonjour'\n"
    assert mpremote(blank_board.port, "exec", "import hello; print(hello.GREETING)").strip() == "bonjour"
    # Each mpremote session soft-resets the board: a process restart on the same port.
    assert blank_board.starts >= 4


def test_soft_reset_restarts_the_process_keeping_port_and_flash(blank_board, console):
    path = blank_board.port
    console.write(b"open('kept.txt', 'w').write('yes')\r")
    console.read_until(b">>> ")
    console.write(b"\x04")
    console.read_until(b"MPY: soft reboot\r\n")
    assert console.read_until(b">>> ")
    assert blank_board.starts == 2 and blank_board.port == path
    console.write(b"print(open('kept.txt').read())\r")
    assert b"yes\n" in console.read_until(b">>> ")


def test_machine_reset_restarts_with_its_cause(blank_board, console):
    console.write(b"import machine; machine.reset()\r")
    assert blank_board.wait_restarted(2)
    console.read_until(b">>> ")
    console.write(b"import machine; print('cause', machine.reset_cause())\r")
    assert b"cause 5\n" in console.read_until(b">>> ")


def test_power_cycle_keeps_the_port_and_comes_back_in_the_friendly_repl(blank_board, console):
    enter_raw(console)
    blank_board.power_cycle()
    assert b"Type \"help()\"" in console.read_until(b">>> ")
    console.write(b"import machine; print('cause', machine.reset_cause())\r")
    assert b"cause 1\n" in console.read_until(b">>> ")
    assert blank_board.starts == 2


def test_ctrl_c_interrupts_main_py_into_the_repl(tmp_path):
    from sim.serial_board import SerialBoard, prepare_blank
    flash = prepare_blank(tmp_path / "flash")
    (flash / "main.py").write_text("import time\nprint('app running')\nwhile True:\n    time.sleep_ms(50)\n")
    board = SerialBoard(flash).start()
    try:
        port = Port(board.port)
        port.read_until(b"app running\n")
        port.write(b"\x03")
        out = port.read_until(b">>> ")
        assert b"KeyboardInterrupt" in out
        port.write(b"1+2\r")
        assert b"3\n" in port.read_until(b">>> ")
        port.close()
    finally:
        board.close()


def test_console_output_nobody_reads_is_dropped_oldest_first_and_counted(tmp_path):
    from sim.serial_board import SerialBoard, prepare_blank
    flash = prepare_blank(tmp_path / "flash")
    (flash / "main.py").write_text("for i in range(4000):\n    print('line %05d ' % i + 'x' * 60)\n"
                                   "print('done')\n")
    board = SerialBoard(flash).start()
    try:
        deadline = time.monotonic() + 30
        while b"done" not in board.console.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"line 03999" in board.console.read_bytes()
        assert board.link.dropped_bytes > 0
        port = Port(board.port)
        port.write(b"\r")
        tail = port.read_until(b">>> ")
        # What is still queued on the port is the newest output, not the first lines.
        assert b"line 00000" not in tail
        port.close()
    finally:
        board.close()


def test_cli_sim_board_blank_prints_the_port_first(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "sim", "board", "--blank",
                             "--dir", str(tmp_path / "flash")], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        assert mpremote(path, "exec", "import sys; print(sys.implementation.name)").strip() == "micropython"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def test_cli_sim_board_rejects_blank_with_a_role():
    done = subprocess.run([sys.executable, "-m", "gateway.cli.main", "sim", "board", "--blank", "--role",
                           "sensor"], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 2 and "--blank" in done.stderr
