"""The luminaire's light-level decision, as pure functions of what it knows.

Priority: a dim override from the gateway while the gateway is heard from; off in daylight (ambient
light with hysteresis); the dimming schedule when the time of day is known; otherwise the safe level.
An unknown ambient light (sensor fault) counts as dark: a street light fails on, not off.
"""

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

MAX_POINTS = const(24)
MINUTES_PER_DAY = const(1440)


def check_level(level):
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0 <= level <= 100:
        raise ValueError("level must be a number 0..100, got %r" % (level,))
    return level


def check_schedule(points):
    """-> the schedule sorted by minute; ValueError naming the bad point otherwise."""
    if not isinstance(points, (list, tuple)) or not 0 < len(points) <= MAX_POINTS:
        raise ValueError("points must be a list of 1..%d [minute_of_day, level] pairs" % MAX_POINTS)
    out = []
    for i, p in enumerate(points):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError("point %d must be [minute_of_day, level]" % i)
        minute, level = p
        if not isinstance(minute, int) or isinstance(minute, bool) or not 0 <= minute < MINUTES_PER_DAY:
            raise ValueError("point %d: minute_of_day must be an integer 0..1439, got %r" % (i, minute))
        try:
            check_level(level)
        except ValueError as exc:
            raise ValueError("point %d: %s" % (i, exc))
        out.append([minute, level])
    out.sort(key=lambda p: p[0])
    for i in range(1, len(out)):
        if out[i][0] == out[i - 1][0]:
            raise ValueError("two points at minute %d" % out[i][0])
    return out


def schedule_level(points, minute):
    """Level of the last point at or before `minute`; before the first point, yesterday's last one."""
    level = points[-1][1]
    for m, lv in points:
        if m > minute:
            break
        level = lv
    return level


class Daylight:
    """Dark/day state with hysteresis so a lamp does not flap at dusk."""

    def __init__(self, dark_lux, day_lux):
        self.dark_lux = dark_lux
        self.day_lux = day_lux
        self.dark = None  # unknown until a first reading

    def update(self, lux):
        if lux is None:
            return self.dark
        if lux < self.dark_lux:
            self.dark = True
        elif lux > self.day_lux:
            self.dark = False
        elif self.dark is None:
            self.dark = True
        return self.dark


def decide(override, dark, minute, schedule, safe_level):
    """-> the level (percent) to drive. `override`: level or None; `dark`: True/False/None;
    `minute`: minute of day or None when the clock is unsynced; `schedule`: points or None."""
    if override is not None:
        return override
    if dark is False:
        return 0
    if minute is not None and schedule:
        return schedule_level(schedule, minute)
    return safe_level


def duty_u16(level, min_level=0):
    """PWM duty for a level: 0 is off; other levels are raised to the driver's lowest stable level."""
    if level <= 0:
        return 0
    if level < min_level:
        level = min_level
    return int(level * 65535 / 100 + 0.5)
