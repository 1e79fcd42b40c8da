"""TI INA219 current / power monitor on I2C: the luminaire's energy meter.

The calibration register scales the shunt voltage into current and power registers (datasheet 8.5.1):
Cal = trunc(0.04096 / (Current_LSB * R_shunt)), Power_LSB = 20 * Current_LSB. A power-on reset of the
part clears the calibration, so it is checked and rewritten before every reading.
"""

from firmware.drivers.fault import RANGE, SensorFault, from_oserror

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_REG_CONFIG = const(0x00)
_REG_SHUNT = const(0x01)
_REG_BUS = const(0x02)
_REG_POWER = const(0x03)
_REG_CURRENT = const(0x04)
_REG_CALIBRATION = const(0x05)
# 32 V bus range, PGA /8 (+-320 mV), 12-bit ADCs, shunt and bus continuous: the power-on default.
_CONFIG = const(0x399F)
_BUS_OVF = const(0x01)
_SHUNT_LSB_V = 10e-6
_BUS_LSB_V = 0.004


def calibration(max_current_a, shunt_ohm):
    """-> (calibration register value, current LSB in A) for the expected full-scale current."""
    current_lsb = max_current_a / 32768
    cal = int(0.04096 / (current_lsb * shunt_ohm))
    if cal > 0xFFFE:
        cal = 0xFFFE
    cal &= 0xFFFE  # bit 0 is read-only and always 0
    return cal, 0.04096 / (cal * shunt_ohm)


def _signed16(v):
    return v - 65536 if v & 0x8000 else v


class INA219:
    part = "ina219"

    def __init__(self, i2c, addr=0x40, shunt_ohm=0.1, max_current_a=2.0):
        self._i2c = i2c
        self._addr = addr
        self._cal, self.current_lsb = calibration(max_current_a, shunt_ohm)
        self._buf = bytearray(2)

    def _read16(self, reg):
        try:
            self._i2c.readfrom_mem_into(self._addr, reg, self._buf)
        except OSError as exc:
            raise from_oserror(exc)
        return (self._buf[0] << 8) | self._buf[1]

    def _write16(self, reg, value):
        self._buf[0] = value >> 8
        self._buf[1] = value & 0xFF
        try:
            self._i2c.writeto_mem(self._addr, reg, self._buf)
        except OSError as exc:
            raise from_oserror(exc)

    def read(self):
        """-> (bus voltage V, shunt voltage V, current A, power W)."""
        if self._read16(_REG_CALIBRATION) != self._cal:
            self._write16(_REG_CONFIG, _CONFIG)
            self._write16(_REG_CALIBRATION, self._cal)
        bus = self._read16(_REG_BUS)
        if bus & _BUS_OVF:
            raise SensorFault(RANGE, "overflow")
        shunt = _signed16(self._read16(_REG_SHUNT))
        current = _signed16(self._read16(_REG_CURRENT))
        power = self._read16(_REG_POWER)
        return ((bus >> 3) * _BUS_LSB_V, shunt * _SHUNT_LSB_V, current * self.current_lsb,
                power * 20 * self.current_lsb)
