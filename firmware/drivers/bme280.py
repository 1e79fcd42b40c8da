"""Bosch BME280 temperature / pressure / humidity sensor on I2C, forced mode.

Compensation uses the datasheet's integer formulas (BME280 datasheet rev 1.6, section 4.2.3): they give
0.01 degC, 1/256 Pa and 1/1024 %RH without floating point, which the ESP32's single-precision floats
could not match for pressure.
"""

import asyncio
import struct

from firmware.drivers.fault import RANGE, ABSENT, SensorFault, from_oserror

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_REG_CALIB_TP = const(0x88)     # 0x88..0xA1: T1..T3, P1..P9, (0xA0 reserved), H1
_REG_CHIP_ID = const(0xD0)
_REG_CALIB_H = const(0xE1)      # 0xE1..0xE7: H2..H6
_REG_CTRL_HUM = const(0xF2)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_DATA = const(0xF7)         # press[3], temp[3], hum[2]
_CHIP_ID = const(0x60)
_OSRS_X1 = const(1)
_MODE_FORCED = const(1)
_STATUS_MEASURING = const(0x08)
_SKIPPED_20BIT = const(0x80000)  # value of a skipped or never-made measurement
_SKIPPED_16BIT = const(0x8000)
# Datasheet appendix B: max measurement time with x1 oversampling on all three = 9.3 ms.
_MEASURE_S = 0.010
_POLLS = const(5)


def _tdiv(a, b):
    """C integer division (truncates toward zero) for the datasheet's int64 code."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class Calibration:
    """Trimming parameters read from the chip's NVM."""

    def __init__(self, tp, h):
        (self.t1, self.t2, self.t3, self.p1, self.p2, self.p3, self.p4, self.p5, self.p6, self.p7,
         self.p8, self.p9) = struct.unpack_from("<HhhHhhhhhhhh", tp, 0)
        self.h1 = tp[25]
        self.h2 = struct.unpack_from("<h", h, 0)[0]
        self.h3 = h[2]
        h4 = (h[3] << 4) | (h[4] & 0x0F)
        self.h4 = h4 - 4096 if h4 & 0x800 else h4
        h5 = (h[5] << 4) | (h[4] >> 4)
        self.h5 = h5 - 4096 if h5 & 0x800 else h5
        self.h6 = h[6] - 256 if h[6] & 0x80 else h[6]


def compensate_t(cal, adc_t):
    """-> (temperature in 0.01 degC, t_fine)."""
    var1 = (((adc_t >> 3) - (cal.t1 << 1)) * cal.t2) >> 11
    d = (adc_t >> 4) - cal.t1
    var2 = (((d * d) >> 12) * cal.t3) >> 14
    t_fine = var1 + var2
    return (t_fine * 5 + 128) >> 8, t_fine


def compensate_p(cal, adc_p, t_fine):
    """-> pressure in Pa as Q24.8 (divide by 256), or 0 when the calibration would divide by zero."""
    var1 = t_fine - 128000
    var2 = var1 * var1 * cal.p6
    var2 = var2 + ((var1 * cal.p5) << 17)
    var2 = var2 + (cal.p4 << 35)
    var1 = ((var1 * var1 * cal.p3) >> 8) + ((var1 * cal.p2) << 12)
    var1 = (((1 << 47) + var1) * cal.p1) >> 33
    if var1 == 0:
        return 0
    p = 1048576 - adc_p
    p = _tdiv(((p << 31) - var2) * 3125, var1)
    var1 = (cal.p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (cal.p8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (cal.p7 << 4)


def compensate_h(cal, adc_h, t_fine):
    """-> relative humidity in %RH as Q22.10 (divide by 1024)."""
    v = t_fine - 76800
    v = ((((adc_h << 14) - (cal.h4 << 20) - (cal.h5 * v)) + 16384) >> 15) * (
        ((((((v * cal.h6) >> 10) * (((v * cal.h3) >> 11) + 32768)) >> 10) + 2097152) * cal.h2 + 8192) >> 14)
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * cal.h1) >> 4)
    if v < 0:
        v = 0
    if v > 419430400:
        v = 419430400
    return v >> 12


class BME280:
    part = "bme280"

    def __init__(self, i2c, addr=0x76):
        self._i2c = i2c
        self._addr = addr
        self._cal = None
        self._calib_tp = bytearray(26)
        self._calib_h = bytearray(7)
        self._data = bytearray(8)
        self._one = bytearray(1)

    def _read(self, reg, buf):
        try:
            self._i2c.readfrom_mem_into(self._addr, reg, buf)
        except OSError as exc:
            raise from_oserror(exc)

    def _write(self, reg, value):
        self._one[0] = value
        try:
            self._i2c.writeto_mem(self._addr, reg, self._one)
        except OSError as exc:
            raise from_oserror(exc)

    def _load_calibration(self):
        self._read(_REG_CHIP_ID, self._one)
        if self._one[0] != _CHIP_ID:
            raise SensorFault(ABSENT, "chip id 0x%02x" % self._one[0])
        self._read(_REG_CALIB_TP, self._calib_tp)
        self._read(_REG_CALIB_H, self._calib_h)
        self._cal = Calibration(self._calib_tp, self._calib_h)

    async def read(self):
        """One forced-mode measurement -> (temperature degC, pressure Pa, humidity %RH)."""
        if self._cal is None:
            self._load_calibration()
        # ctrl_hum only takes effect on the following write of ctrl_meas (datasheet 5.4.3).
        self._write(_REG_CTRL_HUM, _OSRS_X1)
        self._write(_REG_CTRL_MEAS, (_OSRS_X1 << 5) | (_OSRS_X1 << 2) | _MODE_FORCED)
        await asyncio.sleep(_MEASURE_S)
        for _ in range(_POLLS):
            self._read(_REG_STATUS, self._one)
            if not self._one[0] & _STATUS_MEASURING:
                break
            await asyncio.sleep(_MEASURE_S / 4)
        else:
            raise SensorFault("timeout")
        d = self._data
        self._read(_REG_DATA, d)
        adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        adc_h = (d[6] << 8) | d[7]
        if adc_t == _SKIPPED_20BIT or adc_p == _SKIPPED_20BIT or adc_h == _SKIPPED_16BIT:
            raise SensorFault(RANGE, "measurement skipped")
        t, t_fine = compensate_t(self._cal, adc_t)
        p = compensate_p(self._cal, adc_p, t_fine)
        h = compensate_h(self._cal, adc_h, t_fine)
        if p == 0:
            raise SensorFault(RANGE, "calibration")
        return t / 100, p / 256, h / 1024
