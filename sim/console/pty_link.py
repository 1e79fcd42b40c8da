"""The host end of a simulated board's UART: a pty pair whose slave path (``/dev/pts/N``) stays the same
for the board's whole life, across the process restarts of soft resets, watchdog resets and power
cycles, so a tool keeps the port open as it would a USB-serial adapter on ``/dev/ttyUSB0``.

The link holds the master (the board's side) and one slave descriptor of its own, so the port never
hangs up while no tool has it open. Bytes a tool writes go to the board process currently attached.
A Ctrl-C becomes SIGINT to that process only while the board has Ctrl-C armed, as the chip's UART
interrupt raises KeyboardInterrupt only while ``micropython.kbd_intr(3)`` holds: the unix port arms it by
catching SIGINT and disarms it (``kbd_intr(-1)``, as an application reading a binary protocol such as
Improv does) by restoring the default action, so the kernel's record of the process's SIGINT disposition
is the board's own flag. Disarmed, 0x03 is an ordinary byte on the board's input; while the interpreter
starts (SIGINT still ignored) it is lost, as a byte sent to a booting chip is.
Console output nobody reads fills the pty's buffer: the oldest is then flushed, counted in
``dropped_bytes``, so a board never blocks on a console nobody watches.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import subprocess
import termios
import threading
import tty
from pathlib import Path

CTRL_C = 3
_SIGINT_BIT = 1 << (signal.SIGINT - 1)


def ctrl_c_armed(pid: int) -> bool | None:
    """Whether process ``pid`` catches SIGINT (Ctrl-C armed); None while it ignores it (still starting)
    or has ended; False when SIGINT would take its default action (``kbd_intr(-1)``)."""
    try:
        with open("/proc/%d/status" % pid, "rb") as status:
            fields = dict(line.split(b":", 1) for line in status if b":" in line)
    except OSError:
        return None
    if int(fields.get(b"SigCgt", b"0"), 16) & _SIGINT_BIT:
        return True
    if int(fields.get(b"SigIgn", b"0"), 16) & _SIGINT_BIT:
        return None
    return False


class PtyLink:
    def __init__(self, log_path: Path | str | None = None):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        # Output mode stays raw too: the board already writes what the chip sends.
        flags = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.path = os.ttyname(self._slave)
        self.log_path = Path(log_path) if log_path else None
        self.dropped_bytes = 0
        self.interrupts = 0
        self.ctrl_c_bytes = 0   # 0x03 passed as data while the board had Ctrl-C disarmed
        self._proc: subprocess.Popen | None = None
        self._held = bytearray()          # input that arrived while no process was attached
        self._lock = threading.Lock()
        self._out_lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._pump_input, daemon=True, name=f"pty-in {self.path}")
        self._reader.start()

    # -- tool -> board ------------------------------------------------------------------------
    def attach(self, proc: subprocess.Popen) -> None:
        """Route input to ``proc`` (started with stdin=PIPE); input held while detached goes first."""
        with self._lock:
            self._proc = proc
            held, self._held = bytes(self._held), bytearray()
        if held:
            self._send(proc, held)

    def _send(self, proc: subprocess.Popen, data: bytes) -> None:
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            with self._lock:
                self._held += data

    def _pump_input(self) -> None:
        while not self._closed:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        while data:
            head, ctrl_c, data = data.partition(bytes((CTRL_C,)))
            with self._lock:
                proc = self._proc if self._proc is not None and self._proc.poll() is None else None
                if proc is None:
                    self._held += head + ctrl_c
                    continue
            if not ctrl_c:
                self._send(proc, head)
                continue
            armed = ctrl_c_armed(proc.pid)
            if armed is False:
                # Disarmed: the byte belongs to the application's protocol; keep it with its neighbours.
                self.ctrl_c_bytes += 1
                self._send(proc, head + ctrl_c)
                continue
            if head:
                self._send(proc, head)
            if armed:
                self.interrupts += 1
                try:
                    proc.send_signal(signal.SIGINT)
                except ProcessLookupError:
                    pass

    # -- board -> tool --------------------------------------------------------------------------
    def pump_output(self, stream) -> threading.Thread:
        """Copy a board process's stdout to the pty (and the console log) until it ends."""
        thread = threading.Thread(target=self._copy_output, args=(stream,), daemon=True,
                                  name=f"pty-out {self.path}")
        thread.start()
        return thread

    def _copy_output(self, stream) -> None:
        log = open(self.log_path, "ab", buffering=0) if self.log_path else None
        try:
            while True:
                data = os.read(stream.fileno(), 4096)
                if not data:
                    return
                if log is not None:
                    log.write(data)
                self.write(data)
        finally:
            if log is not None:
                log.close()
            stream.close()

    def write(self, data: bytes) -> None:
        with self._out_lock:
            view = memoryview(data)
            while view and not self._closed:
                try:
                    view = view[os.write(self.master, view):]
                except BlockingIOError:
                    self._drop_oldest()
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        return
                    raise

    def _drop_oldest(self) -> None:
        """The tool side's input queue is full: give a reading tool a moment to drain it, else flush
        what is waiting there (the oldest output)."""
        _, writable, _ = select.select([], [self.master], [], 0.5)
        if writable:
            return
        waiting = bytearray(4)
        fcntl.ioctl(self._slave, termios.FIONREAD, waiting)
        self.dropped_bytes += int.from_bytes(waiting, "little")
        termios.tcflush(self._slave, termios.TCIFLUSH)

    def close(self) -> None:
        self._closed = True
        self._reader.join(timeout=1)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
