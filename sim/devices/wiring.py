"""What the simulator launcher wired to a board: `<board_dir>/sim.json`.

    {"seed": 7, "world_time": 1767236400,   # optional: epoch the world starts at
     "i2c":  {"0": [{"part": "bme280", "addr": 118}, ...]},
     "uart": {"1": {"part": "pms5003"}},
     "adc":  {"34": {"part": "microphone", ...}, "35": {"part": "battery", "divider": 2.0}},
     "pin":  {"27": {"part": "pir"}},
     "pwm":  {"25": {"part": "led"}},        # the output whose duty drives the lamp load
     "optical": {"medium": ["127.0.0.1", 40123], "id": "rx-000", "delay_ms": 300, "rate": 16000},
                                             # the optical medium (sim/devices/optical.py): a luminaire's
                                             # RMT and a receiver's photodiode go through it
     "faults": {"bme280": "absent" | "nack" | "crc" | "range", "lamp": "absent"}}

boards.loader.sim_wiring() writes it from a board definition.

Faults are re-read when the file changes (its inode, size or mtime), so a test or the fault injector
replaces the file (write a temporary file, then rename) and the next bus transaction sees the fault.
"""

import json
import os

from sim.devices.base import ticks_diff, ticks_ms

FILE = "sim.json"
FAULTS = ("absent", "nack", "crc", "range")
# ADC inputs are read thousands of times a second (the LiFi receiver): they look at the file this often.
_SAMPLED_CHECK_MS = 100


class Wiring:
    def __init__(self, board_dir):
        self.path = board_dir + "/" + FILE
        self._stamp = None
        self._checked_ms = ticks_ms()
        self.data = {}
        self.refresh()

    def refresh(self):
        try:
            st = os.stat(self.path)
        except OSError:
            self._stamp = None
            self.data = {}
            return
        stamp = (st[1], st[6], st[8])
        if stamp == self._stamp:
            return
        with open(self.path) as f:
            self.data = json.load(f)
        self._stamp = stamp

    def section(self, name):
        return self.data.get(name) or {}

    def fault(self, part, sampled=False):
        """-> the fault injected into `part` now, or None. `sampled`: a high-rate input, for which a
        fault file change may take up to 100 ms to be seen."""
        if sampled:
            now = ticks_ms()
            if ticks_diff(now, self._checked_ms) >= _SAMPLED_CHECK_MS:
                self._checked_ms = now
                self.refresh()
        else:
            self.refresh()
        reason = self.section("faults").get(part)
        if reason is not None and reason not in FAULTS:
            raise ValueError(f"{self.path}: fault for {part} must be one of {FAULTS}, got {reason!r}")
        return reason


_wirings = {}


def for_board(board_dir):
    w = _wirings.get(board_dir)
    if w is None:
        w = _wirings[board_dir] = Wiring(board_dir)
    return w
