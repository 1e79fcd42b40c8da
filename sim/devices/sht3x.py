"""SHT3x at command level: single-shot measurements answered with CRC-protected words.

A read before the measurement is done is NACKed, as the part does with clock stretching disabled.
"""

import errno

from sim.devices.base import I2CModel, ticks_diff, ticks_ms

_SINGLE_SHOT = (0x2400, 0x240B, 0x2416, 0x2C06, 0x2C0D, 0x2C10)
_MEASURE_MS = 15


def crc8(data):
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SHT3x(I2CModel):
    part = "sht3x"

    def __init__(self, wiring, env, addr, spec):
        super().__init__(wiring, env, addr, spec)
        self._started = None
        self._out = None

    def writeto(self, data):
        self.fault()
        if len(data) >= 2 and ((data[0] << 8) | data[1]) in _SINGLE_SHOT:
            self._started = ticks_ms()
            self._out = self._result()

    def _result(self):
        t = self.env.now()
        temp = self.env.temperature(t)
        hum = self.env.humidity(t)
        reason = self.wiring.fault(self.part)
        if reason == "range":
            temp = 130.0
        raw_t = max(0, min(65535, int((temp + 45) * 65535 / 175 + 0.5)))
        raw_h = max(0, min(65535, int(hum * 65535 / 100 + 0.5)))
        out = bytearray(6)
        out[0], out[1] = raw_t >> 8, raw_t & 0xFF
        out[2] = crc8(out[0:2])
        out[3], out[4] = raw_h >> 8, raw_h & 0xFF
        out[5] = crc8(out[3:5])
        if reason == "crc":
            out[5] ^= 0x5A
        return out

    def readfrom(self, n):
        self.fault()
        if self._out is None or ticks_diff(ticks_ms(), self._started) < _MEASURE_MS:
            raise OSError(errno.EIO)
        out, self._out = self._out, None
        return bytes(out[:n])
