"""Plantower PMS5003 particulate sensor on a UART (9600 8N1), passive mode with fan sleep.

The fan wears and draws ~100 mA, so it sleeps between reads; after waking it needs its spin-up time
(datasheet: at least 30 s) before data is stable. Frames are 32 bytes: 0x42 0x4D, length 28, thirteen
big-endian words, then the 16-bit sum of all preceding bytes.
"""

import asyncio

from firmware.drivers.fault import CRC, TIMEOUT, SensorFault

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_FRAME_LEN = const(32)
_CMD_MODE = const(0xE1)     # data 0: passive, 1: active
_CMD_READ = const(0xE2)     # passive-mode read request
_CMD_SLEEP = const(0xE4)    # data 0: sleep, 1: wake
_REPLY_WAIT_S = 0.05
_REPLY_POLLS = const(40)    # 2 s: the part answers within ~1 s


def command(cmd, data):
    """-> the 7-byte host command 0x42 0x4D CMD DATAH DATAL LRCH LRCL."""
    frame = bytearray(7)
    frame[0] = 0x42
    frame[1] = 0x4D
    frame[2] = cmd
    frame[3] = data >> 8
    frame[4] = data & 0xFF
    s = sum(frame[0:5])
    frame[5] = s >> 8
    frame[6] = s & 0xFF
    return frame


def parse_frame(buf, start=0):
    """-> (pm1.0, pm2.5, pm10) atmospheric-environment ug/m3 from a 32-byte frame at `start`."""
    if buf[start] != 0x42 or buf[start + 1] != 0x4D or buf[start + 2] != 0 or buf[start + 3] != 28:
        raise SensorFault(CRC, "header")
    total = 0
    for i in range(start, start + 30):
        total += buf[i]
    if total != (buf[start + 30] << 8) | buf[start + 31]:
        raise SensorFault(CRC)

    def word(n):
        return (buf[start + 4 + 2 * n] << 8) | buf[start + 5 + 2 * n]

    return word(3), word(4), word(5)


class PMS5003:
    part = "pms5003"

    def __init__(self, uart, spinup_s=30.0):
        self._uart = uart
        self.spinup_s = spinup_s
        self._rx = bytearray(2 * _FRAME_LEN)
        self._wake = command(_CMD_SLEEP, 1)
        self._sleep = command(_CMD_SLEEP, 0)
        self._passive = command(_CMD_MODE, 0)
        self._request = command(_CMD_READ, 0)
        self.awake = False

    def _drain(self):
        while self._uart.any():
            self._uart.read()

    def wake(self):
        self._uart.write(self._wake)
        self.awake = True

    def sleep(self):
        self._uart.write(self._sleep)
        self.awake = False

    async def read(self):
        """Wake the fan if needed, wait its spin-up, read one frame -> (pm1.0, pm2.5, pm10) ug/m3.
        The caller decides whether to put the fan back to sleep."""
        if not self.awake:
            self.wake()
            await asyncio.sleep(self.spinup_s)
        # Some units come back from sleep in active mode: ask for passive again, drop what it sent.
        self._uart.write(self._passive)
        await asyncio.sleep(_REPLY_WAIT_S)
        self._drain()
        self._uart.write(self._request)
        got = 0
        rx = self._rx
        for _ in range(_REPLY_POLLS):
            await asyncio.sleep(_REPLY_WAIT_S)
            n = self._uart.any()
            if n:
                chunk = self._uart.read(min(n, len(rx) - got))
                if chunk:
                    rx[got:got + len(chunk)] = chunk
                    got += len(chunk)
            start = _find_header(rx, got)
            if start >= 0 and got - start >= _FRAME_LEN:
                return parse_frame(rx, start)
            if got == len(rx):
                raise SensorFault(CRC, "no frame")
        raise SensorFault(TIMEOUT)


def _find_header(buf, n):
    for i in range(n - 1):
        if buf[i] == 0x42 and buf[i + 1] == 0x4D:
            return i
    return -1
