"""``time`` for a simulated board: the interpreter's own module, its clock sped up by the run's factor.

A fleet run with time acceleration X sets ``RVB_TIME_ACCEL`` (X) and ``RVB_TIME_ORIGIN`` (a wall-clock
epoch in seconds shared by every process of the run). Then, on this board:

- ticks (``ticks_ms``/``ticks_us``/``ticks_cpu``) advance X times faster than real time from the real
  ticks at start-up; ``ticks_add``/``ticks_diff`` keep the interpreter's arithmetic. They never fall
  behind the real ticks (X >= 1): the port's C task queue stamps a task pushed without a time with the
  *real* ticks_ms, and such a task must come out as due now, not in the future;
- ``time()``/``time_ns()``/``gmtime()``/``localtime()`` give the simulated epoch
  ``origin + (now - origin) * X``, the same one the fleet's NTP server and world model use;
- ``sleep``/``sleep_ms``/``sleep_us`` last 1/X of the asked time.

asyncio (frozen into the port) imports ``ticks_ms``/``ticks_diff``/``ticks_add`` from this module when it
is first imported, and waits in ``select.poll().ipoll(ms)``: the ``select`` shim next to this one
divides those waits by X, so ``asyncio.sleep(60)`` at X=60 takes one real second and 60 s of ticks.

X must be 1 or more. Without ``RVB_TIME_ACCEL`` (or with 1) the interpreter's functions are re-exported as they are.
Integer arithmetic on the tick path: floats are heap objects on the port, and ticks are read often.
"""

import os
import sys

# A time.py on the path shadows the built-in module; with the path emptied, import finds the built-in.
_path = sys.path[:]
sys.path.clear()
try:
    import time as _real
finally:
    sys.path.extend(_path)
del _path


def __getattr__(name):
    # Anything not redefined here (time.clock, what a later port adds) is the interpreter's own.
    return getattr(_real, name)


ticks_add = _real.ticks_add
ticks_diff = _real.ticks_diff
mktime = _real.mktime
# Host time, for what must not speed up (the watchdog shim: the board's CPU runs at real speed).
real_ticks_ms = _real.ticks_ms
real_sleep = _real.sleep

_ACCEL_MILLI = int(float(os.getenv("RVB_TIME_ACCEL") or "1") * 1000 + 0.5)
ACCEL = _ACCEL_MILLI / 1000
if _ACCEL_MILLI < 1000:
    raise ValueError("RVB_TIME_ACCEL must be 1 or more, got %s" % os.getenv("RVB_TIME_ACCEL"))

if _ACCEL_MILLI == 1000:
    ticks_ms = _real.ticks_ms
    ticks_us = _real.ticks_us
    ticks_cpu = _real.ticks_cpu
    time = _real.time
    time_ns = _real.time_ns
    gmtime = _real.gmtime
    localtime = _real.localtime
    sleep = _real.sleep
    sleep_ms = _real.sleep_ms
    sleep_us = _real.sleep_us
else:
    _ORIGIN_NS = int(float(os.getenv("RVB_TIME_ORIGIN") or "0") * 1000000) * 1000 or _real.time_ns()
    _BOOT_US = _real.ticks_us()
    _BOOT_MS = _BOOT_US // 1000

    def ticks_us():
        return ticks_add(_BOOT_US, ticks_diff(_real.ticks_us(), _BOOT_US) * _ACCEL_MILLI // 1000)

    def ticks_ms():
        return ticks_add(_BOOT_MS, ticks_diff(_real.ticks_us(), _BOOT_US) * _ACCEL_MILLI // 1000000)

    ticks_cpu = ticks_us

    def time_ns():
        return _ORIGIN_NS + (_real.time_ns() - _ORIGIN_NS) * _ACCEL_MILLI // 1000

    def time():
        return time_ns() / 1000000000

    def gmtime(secs=None):
        return _real.gmtime(time_ns() // 1000000000 if secs is None else secs)

    def localtime(secs=None):
        return _real.localtime(time_ns() // 1000000000 if secs is None else secs)

    def sleep(seconds):
        _real.sleep(seconds / ACCEL)

    def sleep_ms(ms):
        _real.sleep_us(ms * 1000000 // _ACCEL_MILLI)

    def sleep_us(us):
        _real.sleep_us(us * 1000 // _ACCEL_MILLI)
