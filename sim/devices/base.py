"""Common behaviour of the I2C device models: a register pointer, injected absence and NACK."""

import errno
import time

try:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
except AttributeError:  # CPython, for tools that load the models there
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


class I2CModel:
    part = ""

    def __init__(self, wiring, env, addr, spec):
        self.wiring = wiring
        self.env = env
        self.addr = addr
        self.spec = spec

    def fault(self):
        """Raise what the bus raises for an absent or NACKing part; -> the other injected fault or None."""
        reason = self.wiring.fault(self.part)
        if reason == "absent":
            raise OSError(errno.ENODEV)
        if reason == "nack":
            raise OSError(errno.EIO)
        return reason


class RegisterModel(I2CModel):
    """Byte registers behind an auto-incrementing pointer: the first byte of a write selects it."""

    def __init__(self, wiring, env, addr, spec):
        super().__init__(wiring, env, addr, spec)
        self.regs = bytearray(256)
        self.ptr = 0

    def writeto(self, data):
        self.fault()
        if not data:
            return
        self.ptr = data[0]
        for b in data[1:]:
            self.on_write(self.ptr, b)
            self.ptr = (self.ptr + 1) & 0xFF

    def readfrom(self, n):
        self.fault()
        out = bytes(self.regs[self.ptr:self.ptr + n])
        self.ptr = (self.ptr + n) & 0xFF
        return out

    def on_write(self, reg, value):
        self.regs[reg] = value
