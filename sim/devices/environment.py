"""The physical world the simulated parts measure: deterministic functions of time and a seed.

This is the single seam the simulator's world model replaces: device models call `current()` and ask
it for quantities at a time; nothing else in sim/devices knows where values come from. Values follow
a day cycle in UTC (plus `utc_offset_h`) with seeded, repeatable jitter, so two runs with the same
seed and clock see the same readings. MicroPython code (it runs inside the simulated board), where
``time.time()`` is the time shim's: the simulated epoch in an accelerated run, so the day cycle runs at
the run's pace.
"""

import math
import time

_TWO_PI = 2 * math.pi


def _jitter(seed, channel, slot):
    """-> a repeatable value in [-1, 1) for (seed, channel, time slot): a 32-bit integer hash."""
    x = (seed * 0x9E3779B1 + channel * 0x85EBCA77 + slot * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 2147483648.0 - 1.0


class Environment:
    def __init__(self, seed=1, utc_offset_h=0.0, world_time=None):
        """`world_time`: epoch seconds the world starts at (it then runs with the wall clock), so a
        test can pin the time of day; None follows the wall clock."""
        self.seed = seed
        self.utc_offset_h = utc_offset_h
        self.world_time = world_time
        self._shift = 0.0 if world_time is None else world_time - time.time()
        self.led_level = None  # 0..1 duty the luminaire drives, when the PWM shim reports it

    def now(self):
        return time.time() + self._shift

    def _hour(self, t):
        return ((t / 3600.0) + self.utc_offset_h) % 24

    def _noise(self, channel, t, step_s):
        return _jitter(self.seed, channel, int(t // step_s))

    def daylight(self, t):
        """0 at night .. 1 at solar noon (equinox-like day, sunrise 06:00, sunset 18:00)."""
        h = self._hour(t)
        return max(0.0, math.sin(math.pi * (h - 6) / 12)) if 6 <= h <= 18 else 0.0

    def temperature(self, t):
        return 12.0 + 6.0 * math.sin(_TWO_PI * (self._hour(t) - 9) / 24) + 0.3 * self._noise(1, t, 10)

    def humidity(self, t):
        return 70.0 - 15.0 * math.sin(_TWO_PI * (self._hour(t) - 9) / 24) + 1.0 * self._noise(2, t, 10)

    def pressure(self, t):
        return 101325.0 + 400.0 * math.sin(_TWO_PI * t / (3 * 86400)) + 5.0 * self._noise(3, t, 10)

    def lux(self, t):
        return 30000.0 * self.daylight(t) + 3.0 + 0.5 * self._noise(4, t, 10)

    def _traffic(self, t):
        """0..1 road traffic: morning and evening peaks."""
        h = self._hour(t)
        return max(0.0, math.exp(-((h - 8.5) ** 2) / 2) + math.exp(-((h - 18) ** 2) / 3) + 0.15 * (7 <= h <= 21))

    def pm25(self, t):
        return 6.0 + 10.0 * self._traffic(t) + 1.5 * self._noise(5, t, 30)

    def pm10(self, t):
        return 1.6 * self.pm25(t) + 2.0 * self._noise(6, t, 30)

    def noise_db(self, t):
        return 42.0 + 22.0 * min(1.0, self._traffic(t)) + 3.0 * self._noise(7, t, 1)

    def presence(self, t):
        """True while someone is in front of the PIR: 5 s slots, busier by day."""
        busy = 0.05 + 0.4 * min(1.0, self._traffic(t))
        return (self._noise(8, t, 5) + 1) / 2 < busy

    def supply_v(self, t):
        return 3.95 - 0.15 * (1 - self.daylight(t)) + 0.01 * self._noise(9, t, 60)

    def lamp_level(self, t):
        """0..1 of the luminaire's LED: what the PWM shim reported, else on at night."""
        if self.led_level is not None:
            return self.led_level
        return 0.0 if self.daylight(t) > 0.05 else 1.0


_current = None


def current(seed=None, world_time=None, site=None):
    """-> the process's environment; the first call (or a new seed, world time or site) decides them.
    With a site, the seeded world model of sim/world.py feeds the parts; without one, this module's
    simpler street."""
    global _current
    if (_current is None or (seed is not None and seed != _current.seed)
            or (world_time is not None and world_time != _current.world_time)
            or site != getattr(_current, "site", None)):
        if site is None:
            _current = Environment(1 if seed is None else seed, world_time=world_time)
        else:
            from sim.world import WorldEnvironment
            _current = WorldEnvironment(1 if seed is None else seed, site, world_time=world_time)
    return _current
