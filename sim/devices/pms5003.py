"""PMS5003 on a UART: host commands in, 32-byte data frames out; sleep, wake, passive and active modes.

In active mode the part streams a frame every second; in passive mode it answers read requests. It
sends nothing while asleep. Injected faults: "absent" (silent), "crc" (bad checksum), "range"
(implausible concentrations).
"""

from sim.devices.base import ticks_diff, ticks_ms

_ACTIVE_INTERVAL_MS = 1000


def frame(pm1, pm25, pm10, corrupt=False):
    words = (pm1, pm25, pm10, pm1, pm25, pm10, 0, 0, 0, 0, 0, 0, 0)
    out = bytearray(32)
    out[0], out[1], out[2], out[3] = 0x42, 0x4D, 0, 28
    for i, w in enumerate(words):
        out[4 + 2 * i] = (w >> 8) & 0xFF
        out[5 + 2 * i] = w & 0xFF
    s = sum(out[0:30]) + (1 if corrupt else 0)
    out[30], out[31] = (s >> 8) & 0xFF, s & 0xFF
    return out


class PMS5003:
    part = "pms5003"

    def __init__(self, wiring, env, spec):
        self.wiring = wiring
        self.env = env
        self.spec = spec
        self.awake = True
        self.passive = False
        self._out = bytearray()
        self._cmd = bytearray()
        self._last_active = ticks_ms()

    def _frame(self):
        reason = self.wiring.fault(self.part)
        t = self.env.now()
        pm25 = int(self.env.pm25(t) + 0.5)
        pm10 = int(self.env.pm10(t) + 0.5)
        if reason == "range":
            pm25 = pm10 = 60000
        return frame(max(0, pm25 * 2 // 3), max(0, pm25), max(0, pm10), reason == "crc")

    def _emit(self, data):
        self._out.extend(data)
        if len(self._out) > 256:  # the UART's receive FIFO overflows: oldest bytes go
            self._out = self._out[-256:]

    def _stream(self):
        if self.awake and not self.passive and self.wiring.fault(self.part) != "absent":
            now = ticks_ms()
            if ticks_diff(now, self._last_active) >= _ACTIVE_INTERVAL_MS:
                self._last_active = now
                self._emit(self._frame())

    def write(self, data):
        self._cmd.extend(data)
        while len(self._cmd) >= 7:
            if self._cmd[0] != 0x42 or self._cmd[1] != 0x4D:
                self._cmd = self._cmd[1:]
                continue
            c = self._cmd[:7]
            self._cmd = self._cmd[7:]
            if sum(c[0:5]) != (c[5] << 8) | c[6]:
                continue
            self._command(c[2], (c[3] << 8) | c[4])
        return len(data)

    def _command(self, cmd, data):
        if self.wiring.fault(self.part) == "absent":
            return
        if cmd == 0xE4:
            self.awake = data == 1
            if self.awake:
                self.passive = False  # units come back from sleep in active mode
                self._last_active = ticks_ms()
        elif cmd == 0xE1 and self.awake:
            self.passive = data == 0
        elif cmd == 0xE2 and self.awake and self.passive:
            self._emit(self._frame())

    def any(self):
        self._stream()
        return len(self._out)

    def read(self, n=None):
        self._stream()
        if not self._out:
            return None
        if n is None or n < 0 or n >= len(self._out):
            out, self._out = bytes(self._out), bytearray()
        else:
            out, self._out = bytes(self._out[:n]), self._out[n:]
        return out
