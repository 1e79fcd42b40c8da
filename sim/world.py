"""The world the simulated street furniture measures: a seeded, deterministic model of a street in the city
(Lille, 50.63 N 3.06 E, Europe/Paris time), every quantity a pure function of (seed, site, t).

- daylight and illuminance from the sun's elevation for the date and time at the city's latitude (clear
  sky, civil twilight, street-lit night), dimmed by seeded cloud cover;
- temperature from the season and the hour, plus a seeded weather anomaly; relative humidity follows
  the temperature inversely; pressure drifts over days;
- road traffic by local hour and weekday (commuting peaks, quieter weekends), scaled per site; PM2.5,
  PM10 and noise follow it; presence in front of a PIR is drawn per 5-second slot, busier in traffic.

Weather values are smooth: seeded values at slot boundaries, cosine-interpolated between them, so a
reading and the next one a second later are close, and the same (seed, site, t) always gives the same
value on CPython and on MicroPython. Common subset of both (it runs inside the simulated boards).

``WorldEnvironment`` has the interface of sim/devices/environment.Environment, so the device models
can read the world through their seam. Its ``now()`` is the board's ``time.time()``: in a run with time
acceleration that is the time shim's simulated epoch (sim/shims/time.py, the fleet's SimulatedClock), so
the sun, the weather and the traffic go through their day X times faster, in step with the boards.
"""

import math
import time

LATITUDE = 50.63
LONGITUDE = 3.06
_RAD = math.pi / 180.0
_DAY = 86400
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def _hash32(*values):
    """A 32-bit integer mix of integers (the same on every Python: no built-in hash())."""
    x = 0x811C9DC5
    for value in values:
        x = ((x ^ (value & 0xFFFFFFFF)) * 0x01000193) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
        x ^= x >> 12
    return x


def site_key(site):
    """-> a 32-bit integer naming ``site`` (FNV-1a over its UTF-8 bytes)."""
    x = 0x811C9DC5
    for byte in site.encode():
        x = ((x ^ byte) * 0x01000193) & 0xFFFFFFFF
    return x


def unit(seed, site_id, channel, slot):
    """-> a repeatable value in [0, 1) for (seed, site, channel, slot)."""
    return _hash32(seed, site_id, channel, slot) / 4294967296.0


def smooth(seed, site_id, channel, t, slot_s):
    """-> a value in [-1, 1) varying smoothly with t: seeded knots every ``slot_s`` seconds, cosine-eased."""
    position = t / slot_s
    slot = int(math.floor(position))
    frac = position - slot
    a = unit(seed, site_id, channel, slot) * 2 - 1
    b = unit(seed, site_id, channel, slot + 1) * 2 - 1
    ease = (1 - math.cos(math.pi * frac)) / 2
    return a + (b - a) * ease


# -- calendar and sun ------------------------------------------------------------------------------

def _days_from_civil(year, month, day):
    """Days since 1970-01-01 of a Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days):
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def _last_sunday(year, month):
    """Days since the epoch of the last Sunday of ``month``."""
    first_next = _days_from_civil(year + (month == 12), 1 if month == 12 else month + 1, 1)
    last = first_next - 1
    weekday = (last + _EPOCH_WEEKDAY) % 7
    return last - ((weekday - 6) % 7)


def utc_offset_s(t):
    """Europe/Paris: UTC+2 from the last Sunday of March 01:00 UTC to the last Sunday of October, else +1."""
    year = _civil_from_days(int(t // _DAY))[0]
    start = _last_sunday(year, 3) * _DAY + 3600
    end = _last_sunday(year, 10) * _DAY + 3600
    return 7200 if start <= t < end else 3600


def local_hour(t):
    return ((t + utc_offset_s(t)) % _DAY) / 3600.0


def weekday(t):
    """0 = Monday .. 6 = Sunday, local time."""
    return (int((t + utc_offset_s(t)) // _DAY) + _EPOCH_WEEKDAY) % 7


def day_of_year(t):
    days = int(t // _DAY)
    year = _civil_from_days(days)[0]
    return days - _days_from_civil(year, 1, 1) + 1


def solar_elevation(t, latitude=LATITUDE, longitude=LONGITUDE):
    """The sun's elevation in degrees (NOAA's low-precision formulas: declination and equation of time)."""
    gamma = 2 * math.pi / 365.0 * (day_of_year(t) - 1 + ((t % _DAY) / 3600.0 - 12) / 24)
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(gamma) - 0.032077 * math.sin(gamma)
                       - 0.014615 * math.cos(2 * gamma) - 0.040849 * math.sin(2 * gamma))
    decl = (0.006918 - 0.399912 * math.cos(gamma) + 0.070257 * math.sin(gamma)
            - 0.006758 * math.cos(2 * gamma) + 0.000907 * math.sin(2 * gamma)
            - 0.002697 * math.cos(3 * gamma) + 0.00148 * math.sin(3 * gamma))
    solar_minutes = (t % _DAY) / 60.0 + eqtime + 4 * longitude
    hour_angle = (solar_minutes / 4 - 180) * _RAD
    lat = latitude * _RAD
    cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    return 90 - math.acos(max(-1.0, min(1.0, cos_zenith))) / _RAD


# -- the world --------------------------------------------------------------------------------------

NIGHT_LUX = 4.0           # a street at night, between lamps
CLEAR_NOON_LUX = 110000.0

_CH_CLOUD, _CH_TEMP, _CH_HUM, _CH_PRESS, _CH_PM, _CH_PM10, _CH_NOISE, _CH_PRESENCE, _CH_SITE = range(1, 10)


class World:
    """The world at one site. Every method is a pure function of (seed, site, t)."""

    def __init__(self, seed=1, site="street"):
        self.seed = seed
        self.site = site
        self.site_id = site_key(site)
        # How busy this street is, from a quiet lane (0.4) to an arterial road (1.6).
        self.traffic_scale = 0.4 + 1.2 * unit(seed, self.site_id, _CH_SITE, 0)

    def cloud(self, t):
        """0 clear .. 1 overcast, changing over hours."""
        return max(0.0, min(1.0, 0.45 + 0.55 * smooth(self.seed, 0, _CH_CLOUD, t, 3 * 3600)))

    def lux(self, t):
        elevation = solar_elevation(t)
        if elevation > 0:
            s = math.sin(elevation * _RAD)
            clear = CLEAR_NOON_LUX * s * math.exp(-0.15 / max(s, 0.05)) + 400.0
        elif elevation > -6:
            clear = 400.0 * math.exp(elevation / 1.3)   # civil twilight: ~400 lx at sunset, ~4 lx at -6 deg
        else:
            clear = 0.0
        return NIGHT_LUX + clear * (1 - 0.75 * self.cloud(t))

    def daylight(self, t):
        """0 at night .. 1 in full daylight (about 10 klx and more)."""
        return max(0.0, min(1.0, (self.lux(t) - NIGHT_LUX) / 10000.0))

    def temperature(self, t):
        season = 11.0 - 7.0 * math.cos(2 * math.pi * (day_of_year(t) - 20) / 365.0)
        diurnal = 4.0 * math.cos(2 * math.pi * (local_hour(t) - 15.5) / 24.0)
        weather = 3.0 * smooth(self.seed, 0, _CH_TEMP, t, 12 * 3600)
        return season + diurnal * (1 - 0.5 * self.cloud(t)) + weather

    def humidity(self, t):
        base = 78.0 - 3.0 * (self.temperature(t) - 11.0) + 8.0 * self.cloud(t)
        return max(20.0, min(100.0, base + 4.0 * smooth(self.seed, 0, _CH_HUM, t, 3600)))

    def pressure(self, t):
        return 101325.0 + 900.0 * smooth(self.seed, 0, _CH_PRESS, t, 2 * _DAY) - 300.0 * self.cloud(t)

    def traffic(self, t):
        """0 .. ~1.6: vehicles on this street relative to an ordinary arterial road's peak."""
        h = local_hour(t)
        if weekday(t) < 5:
            shape = math.exp(-((h - 8.5) ** 2) / 1.5) + 0.9 * math.exp(-((h - 18.0) ** 2) / 2.5)
            shape += 0.35 if 7 <= h <= 21 else 0.05
        else:
            shape = 0.55 * math.exp(-((h - 14.0) ** 2) / 12.0) + 0.05
        return min(1.0, shape) * self.traffic_scale

    def pm25(self, t):
        stagnant = 1.0 + 0.5 * (1 - self.cloud(t))    # clear anticyclonic air holds particles
        return max(0.5, 5.0 + 9.0 * self.traffic(t) * stagnant
                   + 2.0 * smooth(self.seed, self.site_id, _CH_PM, t, 1800))

    def pm10(self, t):
        return self.pm25(t) * 1.6 + 2.0 * (1 + smooth(self.seed, self.site_id, _CH_PM10, t, 900))

    def noise_db(self, t):
        return 38.0 + 24.0 * min(1.0, self.traffic(t)) + 3.0 * smooth(self.seed, self.site_id, _CH_NOISE, t, 2)

    def presence(self, t):
        """Someone in front of the PIR during this 5-second slot."""
        busy = 0.03 + 0.45 * min(1.0, self.traffic(t))
        return unit(self.seed, self.site_id, _CH_PRESENCE, int(t // 5)) < busy

    def sample(self, t):
        """-> every quantity at t, by name."""
        return {"lux": self.lux(t), "daylight": self.daylight(t), "temperature_c": self.temperature(t),
                "humidity_pct": self.humidity(t), "pressure_pa": self.pressure(t), "pm25": self.pm25(t),
                "pm10": self.pm10(t), "noise_db": self.noise_db(t), "presence": self.presence(t),
                "traffic": self.traffic(t)}


class WorldEnvironment(World):
    """The world through the device models' environment seam (sim/devices/environment.Environment's
    interface): ``now()`` runs with the wall clock from ``world_time`` when given."""

    def __init__(self, seed=1, site="street", world_time=None):
        World.__init__(self, seed, site)
        self.world_time = world_time
        self._shift = 0.0 if world_time is None else world_time - time.time()
        self.led_level = None  # 0..1 duty the luminaire drives, when the PWM shim reports it

    def now(self):
        return time.time() + self._shift

    def supply_v(self, t):
        """A solar-buffered battery: charged by day, sagging through the night."""
        return 3.8 + 0.15 * self.daylight(t) + 0.01 * smooth(self.seed, self.site_id, 11, t, 600)

    def lamp_level(self, t):
        if self.led_level is not None:
            return self.led_level
        return 0.0 if self.lux(t) > 50 else 1.0
