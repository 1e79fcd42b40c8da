"""Helpers for the simulator tests: a simulated board on a pty and a serial client to talk to it."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from sim.serial_board import SerialBoard, prepare_blank

MPREMOTE = [sys.executable, "-m", "mpremote"]


class Port:
    """A pyserial client of a board's pty with a read-until helper."""

    def __init__(self, path: str):
        self.serial = serial.Serial(path, 115200, timeout=0.05)

    def write(self, data: bytes) -> None:
        self.serial.write(data)

    def read_until(self, ending: bytes, timeout: float = 10.0) -> bytes:
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(ending):
            if time.monotonic() > deadline:
                raise AssertionError("no %r on the console; got %r" % (ending, data[-300:]))
            data += self.serial.read(1)
        return data

    def read_exact(self, count: int, timeout: float = 10.0) -> bytes:
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < count and time.monotonic() < deadline:
            data += self.serial.read(count - len(data))
        return data

    def close(self) -> None:
        self.serial.close()


@pytest.fixture
def blank_board(tmp_path: Path):
    board = SerialBoard(prepare_blank(tmp_path / "flash")).start()
    yield board
    board.close()


# Not named `port`: pytest-embedded's autouse fixtures request `port`, which would boot a blank board
# for every test in this folder.
@pytest.fixture
def console(blank_board):
    client = Port(blank_board.port)
    client.read_until(b">>> ")
    yield client
    client.close()


def mpremote(port: str, *args: str, timeout: float = 30.0) -> str:
    done = subprocess.run(MPREMOTE + ["connect", port, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
