"""Node time: milliseconds since boot, and wall-clock time once NTP has answered.

Until the first NTP answer the wall clock is unknown and times travel in the contract's explicit
unsynced form ``[uptime_ms]``. A reading stored unsynced can be converted later by the same boot (its
uptime base is still valid); readings of earlier boots keep the unsynced form.

Synced times go out as whole POSIX seconds: the ESP32 port's floats are single precision, which cannot
hold an epoch to better than two minutes.
"""

import asyncio
import socket
import struct
import time

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

SYNCED = const(0)
UNSYNCED = const(1)

_NTP_DELTA = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_NTP_PORT = const(123)


class NtpError(OSError):
    """No usable answer from the NTP server."""


class Clock:
    def __init__(self, ticks_ms=None, ticks_diff=None):
        self._ticks_ms = ticks_ms or time.ticks_ms
        self._ticks_diff = ticks_diff or time.ticks_diff
        self._last_ticks = self._ticks_ms()
        self._uptime = 0
        self._offset_ms = None   # epoch_ms - uptime_ms, once synced

    def uptime_ms(self):
        # ticks wrap (2**30 ms on the ESP32, about 12 days); callers reach here far more often.
        now = self._ticks_ms()
        self._uptime += self._ticks_diff(now, self._last_ticks)
        self._last_ticks = now
        return self._uptime

    def synced(self):
        return self._offset_ms is not None

    def set_epoch_ms(self, epoch_ms):
        self._offset_ms = epoch_ms - self.uptime_ms()

    def epoch(self):
        """Whole POSIX seconds now, or None while unsynced (what roles use for time of day)."""
        if self._offset_ms is None:
            return None
        return (self._offset_ms + self.uptime_ms()) // 1000

    def stamp(self):
        """(kind, value) of now, as the ring stores it: (SYNCED, epoch_s) or (UNSYNCED, uptime_ms)."""
        if self._offset_ms is None:
            return UNSYNCED, self.uptime_ms()
        return SYNCED, (self._offset_ms + self.uptime_ms()) // 1000

    def wire(self, kind, value, same_boot=True):
        """The contract's time field for a stamp; unsynced stamps of this boot become epoch seconds once
        the clock is synced."""
        if kind == SYNCED:
            return value
        if same_boot and self._offset_ms is not None:
            return (self._offset_ms + value) // 1000
        return [value]

    def now_wire(self):
        kind, value = self.stamp()
        return self.wire(kind, value)

    async def sync(self, host, port=_NTP_PORT, timeout_ms=2000):
        """Ask an NTP server (RFC 4330 client mode) without blocking the event loop; raise NtpError."""
        addr = socket.getaddrinfo(host, port)[0][-1]
        request = bytearray(48)
        request[0] = 0x1B  # LI 0, version 3, mode 3 (client)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.sendto(request, addr)
            sent = self.uptime_ms()
            while True:
                try:
                    answer = sock.recv(48)
                    break
                except OSError:
                    if self.uptime_ms() - sent > timeout_ms:
                        raise NtpError("no answer from NTP server %s within %d ms" % (host, timeout_ms))
                    await asyncio.sleep_ms(10)
        finally:
            sock.close()
        if len(answer) < 48 or answer[0] & 0x07 not in (4, 5):
            raise NtpError("malformed NTP answer from %s" % host)
        seconds, fraction = struct.unpack_from("!II", answer, 40)
        if seconds == 0:
            raise NtpError("NTP server %s is not synchronised" % host)
        # Half the round trip is the best estimate of the one-way delay.
        rtt = self.uptime_ms() - sent
        epoch_ms = (seconds - _NTP_DELTA) * 1000 + (fraction * 1000 >> 32) + rtt // 2
        self.set_epoch_ms(epoch_ms)
        return epoch_ms
