"""Sensirion SHT3x temperature / humidity sensor on I2C, single-shot high repeatability.

Every 16-bit word the sensor sends is followed by its CRC-8 (poly 0x31, init 0xFF); a mismatch is
reported as a `crc` fault rather than published (datasheet section 4.12).
"""

import asyncio

from firmware.drivers.fault import CRC, SensorFault, from_oserror

# Single shot, high repeatability, clock stretching disabled: the sensor NACKs a read until done.
_CMD_MEASURE = b"\x24\x00"
# Datasheet table 4: max measurement duration at high repeatability is 15.5 ms.
_MEASURE_S = 0.016


def crc8_sensirion(data, start=0, end=None):
    """CRC-8 of Sensirion parts: polynomial 0x31, init 0xFF, no reflection, no final XOR."""
    if end is None:
        end = len(data)
    crc = 0xFF
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ 0x31) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


class SHT3x:
    part = "sht3x"

    def __init__(self, i2c, addr=0x44):
        self._i2c = i2c
        self._addr = addr
        self._buf = bytearray(6)

    async def read(self):
        """-> (temperature degC, relative humidity %RH)."""
        b = self._buf
        try:
            self._i2c.writeto(self._addr, _CMD_MEASURE)
            await asyncio.sleep(_MEASURE_S)
            self._i2c.readfrom_into(self._addr, b)
        except OSError as exc:
            raise from_oserror(exc)
        if crc8_sensirion(b, 0, 2) != b[2] or crc8_sensirion(b, 3, 5) != b[5]:
            raise SensorFault(CRC)
        raw_t = (b[0] << 8) | b[1]
        raw_h = (b[3] << 8) | b[4]
        return -45 + 175 * raw_t / 65535, 100 * raw_h / 65535
