"""A small SNTP server (RFC 4330 server mode) for a simulated fleet, so boards stamp readings with wall
time as they do in the street, instead of the contract's unsynced form; and the fleet's simulated clock.

The server answers from a clock (the host's by default, a ``SimulatedClock`` in an accelerated run),
stratum 2; ``skew_s`` shifts every answer (a server that is off: the clock-skew fault).

``SimulatedClock`` is the run's time: ``origin + (now - origin) * accel`` in epoch seconds. Every process
of a run agrees on it: the board shims (sim/shims/time.py) get the same origin and factor through the
environment ``env()`` returns, the world model inside a board reads it through the shimmed
``time.time()``, and the fleet runner schedules faults with ``elapsed()``.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

NTP_DELTA = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def _ntp_timestamp(epoch: float) -> bytes:
    seconds = int(epoch) + NTP_DELTA
    fraction = int((epoch % 1.0) * (1 << 32)) & 0xFFFFFFFF
    return struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


def answer(request: bytes, now: float) -> bytes | None:
    """-> the server's reply to a client request, or None for anything that is not one."""
    if len(request) < 48 or request[0] & 0x07 != 3:
        return None
    version = (request[0] >> 3) & 0x07
    reply = bytearray(48)
    reply[0] = (version << 3) | 4           # LI 0, client's version, mode 4 (server)
    reply[1] = 2                            # stratum
    reply[2] = request[2]                   # poll
    reply[3] = 0xEC                         # precision ~ 2^-20 s
    reply[12:16] = b"SIM\x00"               # reference id
    stamp = _ntp_timestamp(now)
    reply[16:24] = stamp                    # reference
    reply[24:32] = request[40:48]           # originate = client's transmit
    reply[32:40] = stamp                    # receive
    reply[40:48] = stamp                    # transmit
    return bytes(reply)


class SimulatedClock:
    """The run's time, ``accel`` times faster than the host's from ``origin`` (epoch seconds, default now)."""

    def __init__(self, accel: float = 1.0, origin: float | None = None):
        if not accel >= 1.0:
            raise ValueError("time acceleration must be 1 or more, got %r" % (accel,))
        self.accel = float(accel)
        self.origin = time.time() if origin is None else float(origin)

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.origin + (time.time() - self.origin) * self.accel

    def elapsed(self, since_monotonic: float) -> float:
        """Simulated seconds since the host's ``time.monotonic()`` was ``since_monotonic``."""
        return (time.monotonic() - since_monotonic) * self.accel

    def real_s(self, simulated_s: float) -> float:
        """Host seconds that ``simulated_s`` simulated seconds take."""
        return simulated_s / self.accel

    def env(self) -> dict[str, str]:
        """What a board process needs in its environment to run on this clock (nothing at x1)."""
        if self.accel == 1.0:
            return {}
        return {"RVB_TIME_ACCEL": repr(self.accel), "RVB_TIME_ORIGIN": "%.6f" % self.origin}


class NtpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, skew_s: float = 0.0,
                 clock: Callable[[], float] = time.time):
        self.skew_s = skew_s
        self.clock = clock
        self.requests = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ntp", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                request, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = answer(request, self.clock() + self.skew_s)
            if reply is not None:
                self.requests += 1
                self._sock.sendto(reply, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
