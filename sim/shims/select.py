"""``select`` for a simulated board: the interpreter's own module, with poll timeouts (milliseconds of
the board's accelerated ticks) turned into real milliseconds by the run's time acceleration.

asyncio's event loop waits for its next timer in ``poll().ipoll(ms)``; see the ``time`` shim beside this
module. Without acceleration the built-in module is re-exported unchanged.
"""

import os
import sys

_path = sys.path[:]
sys.path.clear()
try:
    import select as _real
finally:
    sys.path.extend(_path)
del _path

POLLIN = _real.POLLIN
POLLOUT = _real.POLLOUT
POLLERR = _real.POLLERR
POLLHUP = _real.POLLHUP


def __getattr__(name):
    return getattr(_real, name)


_ACCEL_MILLI = int(float(os.getenv("RVB_TIME_ACCEL") or "1") * 1000 + 0.5)


def _real_ms(timeout):
    # Rounded up: a timer due in less than a real millisecond must not turn the wait into a busy spin.
    if timeout is None or timeout < 0:
        return -1
    return -(-timeout * 1000 // _ACCEL_MILLI)


class _Poll:
    """A poll object whose waits last 1/X of the asked time."""

    def __init__(self):
        self._poll = _real.poll()
        self.register = self._poll.register
        self.unregister = self._poll.unregister
        self.modify = self._poll.modify

    def poll(self, timeout=-1):
        return self._poll.poll(_real_ms(timeout))

    def ipoll(self, timeout=-1, flags=0):
        return self._poll.ipoll(_real_ms(timeout), flags)


if _ACCEL_MILLI == 1000:
    poll = _real.poll
else:
    poll = _Poll
