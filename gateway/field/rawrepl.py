"""A client of MicroPython's raw REPL and raw-paste mode over pyserial (any pyserial URL: /dev/ttyUSB0,
a simulated board's pty, rfc2217://…), as MicroPython's shared/runtime/pyexec.c serves them:

- raw REPL: Ctrl-A -> ``raw REPL; CTRL-B to exit\\r\\n>``; source then Ctrl-D -> ``OK``, output,
  ``\\x04``, error output, ``\\x04``, ``>``; Ctrl-B back to the friendly REPL, Ctrl-D there soft-resets;
- raw-paste: ``\\x05A\\x01`` -> ``R\\x01`` + window (u16 LE); the host sends at most the granted bytes,
  the board grants another window with ``\\x01`` (``\\x04`` asks the host to stop); Ctrl-D ends the source
  and is acknowledged with ``\\x04``. A board answering ``R\\x00`` or not knowing the command gets the
  source through the plain raw REPL instead.
"""

from __future__ import annotations

import struct
import time
from typing import Self

import serial

from gateway.errors import NotFound, ProtocolError, Timeout

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
SOFT_REBOOT = b"soft reboot\r\n"
# Plain raw REPL: the board reads its input through a small buffer, so the source goes in slices.
PLAIN_SLICE = 256
PLAIN_PAUSE_S = 0.01


class ExecError(ProtocolError):
    """The code sent ran on the board and raised; ``traceback`` is the board's error output."""

    def __init__(self, traceback: str):
        super().__init__("the board raised: " + (traceback.strip().splitlines() or ["?"])[-1])
        self.traceback = traceback


class RawPasteWindow:
    """The host side of raw-paste flow control: how many bytes may go out now. Pure, so the codec is
    tested on its own."""

    def __init__(self, size: int):
        if size <= 0:
            raise ProtocolError("raw-paste: window size %d" % size)
        self.size = size
        self.remaining = size

    def on_board_byte(self, byte: int) -> bool:
        """A byte from the board while pasting; -> True when the board asks to stop (\\x04)."""
        if byte == 0x01:
            self.remaining += self.size
            return False
        if byte == 0x04:
            return True
        raise ProtocolError("raw-paste: unexpected flow-control byte 0x%02x" % byte)

    def take(self, wanted: int) -> int:
        n = min(wanted, self.remaining)
        self.remaining -= n
        return n


def parse_window_reply(reply: bytes) -> int | None:
    """The board's answer to ``\\x05A\\x01`` after ``R\\x01``: the window size; None when the board
    declined raw-paste (``R\\x00``)."""
    if reply[:2] == b"R\x00":
        return None
    if reply[:2] != b"R\x01" or len(reply) != 4:
        raise ProtocolError("raw-paste: unexpected answer %r" % reply)
    return struct.unpack("<H", reply[2:4])[0]


class RawRepl:
    """One board's raw REPL. ``link`` is anything with pyserial's interface (read, write, in_waiting,
    reset_input_buffer, timeout, close)."""

    def __init__(self, link, timeout: float = 10.0):
        self.link = link
        self.timeout = timeout
        self.raw_paste: bool | None = None   # unknown until the first exec
        self.in_raw = False
        self._buf = bytearray()   # read from the link, not consumed yet

    @classmethod
    def open(cls, url: str, baudrate: int = 115200, timeout: float = 10.0) -> Self:
        try:
            link = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, ValueError) as exc:
            raise NotFound("cannot open %s: %s" % (url, exc)) from exc
        return cls(link, timeout)

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- bytes ---------------------------------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        """Read what the board has sent into the buffer; -> False once ``deadline`` has passed."""
        chunk = self.link.read(max(1, min(self.link.in_waiting, 4096)))
        if chunk:
            self._buf += chunk
            return True
        return time.monotonic() <= deadline

    def read_until(self, ending: bytes, timeout: float | None = None) -> bytes:
        """Bytes up to and including ``ending``; Timeout (with what came) when it does not come."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while (end := self._buf.find(ending)) < 0:
            if not self._fill(deadline):
                raise Timeout("no %r from the board within %.1f s (got %r)"
                              % (ending, wait, bytes(self._buf[-80:])))
        end += len(ending)
        data = bytes(self._buf[:end])
        del self._buf[:end]
        return data

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while len(self._buf) < n:
            if not self._fill(deadline):
                raise Timeout("board sent %d of %d bytes expected within %.1f s (%r)"
                              % (len(self._buf), n, wait, bytes(self._buf)))
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _pending(self) -> bool:
        return bool(self._buf) or self.link.in_waiting > 0

    def _discard_input(self) -> None:
        self._buf.clear()
        self.link.reset_input_buffer()

    def _write(self, data: bytes) -> None:
        self.link.write(data)
        flush = getattr(self.link, "flush", None)
        if flush is not None:
            flush()

    # -- modes ---------------------------------------------------------------------------------
    def enter(self, soft_reset: bool = False, attempts: int = 5) -> None:
        """Interrupt whatever runs and enter the raw REPL. Retried: a Ctrl-C sent while the board boots
        is lost, as on the chip. ``soft_reset`` then restarts the interpreter inside the raw REPL (main.py
        does not run there): the heap is whole again, not held by the interrupted application."""
        for attempt in range(attempts):
            self._write(b"\r\x03\x03")
            time.sleep(0.1)
            self._discard_input()
            self._write(b"\r\x01")
            try:
                self.read_until(RAW_BANNER, timeout=min(2.0, self.timeout))
            except Timeout:
                if attempt == attempts - 1:
                    raise
                continue
            self.in_raw = True
            if soft_reset:
                self._write(b"\x04")
                self.read_until(SOFT_REBOOT)
                # boot.py may print between the reboot and the banner.
                self.read_until(RAW_BANNER)
            return

    def exit(self) -> None:
        self._write(b"\r\x02")
        self.in_raw = False

    def soft_reset(self) -> None:
        """Leave the raw REPL and soft-reset from the friendly REPL, so the board runs boot.py and
        main.py as at power-on (a soft reset inside the raw REPL would stay there)."""
        if self.in_raw:
            self.exit()
            self.read_until(b">>> ")
        self._write(b"\x04")
        self.read_until(SOFT_REBOOT)

    # -- exec ----------------------------------------------------------------------------------
    def exec(self, source: str | bytes, timeout: float | None = None) -> bytes:
        """Run ``source`` on the board; -> its output. ExecError with the traceback when it raised."""
        out, err = self.exec_capture(source, timeout)
        if err:
            raise ExecError(err.decode(errors="replace"))
        return out

    def exec_capture(self, source: str | bytes, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Run ``source``; -> (output, error output)."""
        if not self.in_raw:
            self.enter()
        data = source.encode() if isinstance(source, str) else bytes(source)
        if self.raw_paste is not False:
            self.raw_paste = self._paste(data)
        if not self.raw_paste:
            self._plain(data)
        out = self.read_until(b"\x04", timeout)[:-1]
        err = self.read_until(b"\x04", timeout)[:-1]
        self.read_until(b">", timeout)
        return out, err

    def _paste(self, data: bytes) -> bool:
        """Send ``data`` in raw-paste mode; -> False when the board does not support it."""
        self._write(b"\x05A\x01")
        head = self.read_exact(2)
        if head == b"R\x00":
            return False
        if head != b"R\x01":
            # A board without raw-paste took the bytes as a raw REPL line and answered with its banner.
            self.read_until(RAW_BANNER.removeprefix(head))
            return False
        size = parse_window_reply(head + self.read_exact(2))
        if size is None:
            return False
        window = RawPasteWindow(size)
        view = memoryview(data)
        while view:
            while window.remaining == 0 or self._pending():
                byte = self.read_exact(1)[0]
                if window.on_board_byte(byte):
                    # The board ended the paste early (as pyexec does on an error): acknowledge; what
                    # follows is the usual output / error framing.
                    self._write(b"\x04")
                    return True
            n = window.take(len(view))
            self._write(bytes(view[:n]))
            view = view[n:]
        self._write(b"\x04")
        self.read_until(b"\x04")
        return True

    def _plain(self, data: bytes) -> None:
        for i in range(0, len(data), PLAIN_SLICE):
            self._write(data[i:i + PLAIN_SLICE])
            time.sleep(PLAIN_PAUSE_S)
        self._write(b"\x04")
        ok = self.read_exact(2)
        if ok != b"OK":
            raise ProtocolError("raw REPL: expected OK, got %r" % ok)
