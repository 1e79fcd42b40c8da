"""The simulated board's UART turns 0x03 into KeyboardInterrupt only while the board has Ctrl-C armed
(``micropython.kbd_intr``), as the chip's does; disarmed, the byte reaches the application as data."""

import os
import subprocess
import time

import pytest
import serial
from deploykit import blank_board

from sim.console.pty_link import ctrl_c_armed

pytestmark = pytest.mark.micropython


def read_until(port, marker: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, "no %r on the console; got %r" % (marker, seen[-300:])
        seen += port.read(max(1, port.in_waiting))
    return seen


@pytest.fixture
def console(tmp_path):
    board = blank_board(tmp_path / "flash")
    port = serial.serial_for_url(board.port, baudrate=115200, timeout=0.05)
    read_until(port, b">>> ")
    yield board, port
    port.close()
    board.close()


def test_disarmed_ctrl_c_is_data_and_armed_ctrl_c_interrupts(console):
    board, port = console
    port.write(b"import micropython, sys; micropython.kbd_intr(-1); print('DIS' + 'ARMED');"
               b" got = sys.stdin.buffer.read(3); micropython.kbd_intr(3); print(repr(got))\r")
    read_until(port, b"DISARMED")
    assert ctrl_c_armed(board.pid) is False
    port.write(b"a\x03b")
    assert b"b'a\\x03b'" in read_until(port, b">>> ")
    assert (board.link.interrupts, board.link.ctrl_c_bytes) == (0, 1)
    assert ctrl_c_armed(board.pid) is True

    port.write(b"while True: pass\r\r")
    time.sleep(0.3)
    port.write(b"\x03")
    assert b"KeyboardInterrupt" in read_until(port, b">>> ")
    assert board.link.interrupts == 1 and board.alive()


def test_armed_is_read_from_the_kernels_sigint_disposition():
    default = subprocess.Popen(["sleep", "5"])
    # What a board is while its interpreter starts: SIGINT ignored, so a Ctrl-C is lost rather than fatal
    # (an ignored signal stays ignored across exec).
    starting = subprocess.Popen(["sh", "-c", "trap '' INT; exec sleep 5"])
    try:
        time.sleep(0.2)
        assert ctrl_c_armed(default.pid) is False
        assert ctrl_c_armed(starting.pid) is None
        assert ctrl_c_armed(os.getpid()) is True   # Python catches SIGINT as KeyboardInterrupt
    finally:
        for proc in (default, starting):
            proc.kill()
            proc.wait()
    assert ctrl_c_armed(default.pid) is None   # gone
