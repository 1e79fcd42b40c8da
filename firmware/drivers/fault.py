"""Sensor failures as the wire contract names them (status key 26)."""

import errno

ABSENT = "absent"
NACK = "nack"
CRC = "crc"
RANGE = "range"
TIMEOUT = "timeout"


class SensorFault(Exception):
    """A reading failed; `reason` is one of the contract's fault names."""

    def __init__(self, reason, detail=""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def from_oserror(exc):
    """Map a bus OSError to a SensorFault: the ESP32 port raises ENODEV when no device acknowledges its
    address, ETIMEDOUT when the bus is held, EIO when a byte is not acknowledged."""
    code = exc.args[0] if exc.args else None
    if code == errno.ENODEV:
        return SensorFault(ABSENT)
    if code == errno.ETIMEDOUT:
        return SensorFault(TIMEOUT)
    return SensorFault(NACK, str(code))

