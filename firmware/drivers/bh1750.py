"""ROHM BH1750FVI ambient light sensor on I2C, one-time high-resolution mode."""

import asyncio

from firmware.drivers.fault import from_oserror

_POWER_ON = b"\x01"
_ONE_TIME_H_RES = b"\x20"
# Datasheet: H-resolution measurement time is 120 ms typical, 180 ms max.
_MEASURE_S = 0.180
# lx = count / 1.2 at the default measurement time register (MTreg = 69).
_COUNTS_PER_LX = 1.2


class BH1750:
    part = "bh1750"

    def __init__(self, i2c, addr=0x23):
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(2)

    async def read(self):
        """-> illuminance in lx. The part powers down by itself after a one-time measurement."""
        try:
            self._i2c.writeto(self._addr, _POWER_ON)
            self._i2c.writeto(self._addr, _ONE_TIME_H_RES)
            await asyncio.sleep(_MEASURE_S)
            self._i2c.readfrom_into(self._addr, self._buf)
        except OSError as exc:
            raise from_oserror(exc)
        return ((self._buf[0] << 8) | self._buf[1]) / _COUNTS_PER_LX
