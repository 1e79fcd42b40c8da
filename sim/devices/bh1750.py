"""BH1750 at opcode level: power states, one-time and continuous modes, a 2-byte data register."""

from sim.devices.base import I2CModel, ticks_diff, ticks_ms

_H_RES_MS = 120
_L_RES_MS = 16


class BH1750(I2CModel):
    part = "bh1750"

    def __init__(self, wiring, env, addr, spec):
        super().__init__(wiring, env, addr, spec)
        self._powered = False
        self._mode = None
        self._started = None
        self._data = 0

    def writeto(self, data):
        self.fault()
        for op in data:
            if op == 0x00:
                self._powered = False
            elif op == 0x01:
                self._powered = True
            elif op == 0x07 and self._powered:
                self._data = 0
            elif op in (0x10, 0x11, 0x13, 0x20, 0x21, 0x23):
                self._powered = True
                self._mode = op
                self._started = ticks_ms()

    def readfrom(self, n):
        self.fault()
        if self._mode is not None:
            wait = _L_RES_MS if self._mode in (0x13, 0x23) else _H_RES_MS
            if ticks_diff(ticks_ms(), self._started) >= wait:
                lux = self.env.lux(self.env.now())
                if self.wiring.fault(self.part) == "range":
                    lux = 1e6
                self._data = max(0, min(0xFFFF, int(lux * 1.2)))
                if self._mode >= 0x20:  # one-time modes power down after measuring
                    self._mode = None
                    self._powered = False
                else:
                    self._started = ticks_ms()
        # Before a measurement completes the part returns its previous result.
        return bytes((self._data >> 8, self._data & 0xFF))[:n]
