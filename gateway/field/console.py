"""The board's console (MicroPython REPL) for on-site diagnosis, through pyserial's miniterm.

Ctrl-] leaves; Ctrl-T Ctrl-H lists miniterm's other keys. Any pyserial URL works as port, including a
simulated board's pty."""

from __future__ import annotations

import sys

import serial
from serial.tools.miniterm import Miniterm

from gateway.errors import InvalidInput, NotFound

EXIT_KEY = "\x1d"  # Ctrl-]
MENU_KEY = "\x14"  # Ctrl-T


def open_port(port: str, baudrate: int = 115200) -> serial.Serial:
    try:
        return serial.serial_for_url(port, baudrate=baudrate)
    except (serial.SerialException, ValueError) as exc:
        raise NotFound("cannot open %s: %s" % (port, exc)) from exc


def run_console(port: str, baudrate: int = 115200) -> None:
    """Attach this terminal to the board until the exit key."""
    if not sys.stdin.isatty():
        raise InvalidInput("the console needs an interactive terminal on stdin")
    link = open_port(port, baudrate)
    term = Miniterm(link, echo=False, eol="crlf", filters=["direct"])
    term.exit_character = EXIT_KEY
    term.menu_character = MENU_KEY
    term.raw = True
    term.set_rx_encoding("utf-8")
    term.set_tx_encoding("utf-8")
    term.start()
    try:
        term.join(True)
    except KeyboardInterrupt:
        pass
    term.join()
    term.close()
