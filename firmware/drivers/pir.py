"""PIR presence counting from a digital motion output (e.g. HC-SR501, AM312) with a Pin interrupt.

A PIR module holds its output high for its own retrigger time and chatters at the edges, so a rising
edge within `hold_ms` of the previous counted one is the same presence, not a new one.
"""


class PresenceCounter:
    part = "pir"

    def __init__(self, pin, ticks_ms, ticks_diff, hold_ms=2000, rising=None):
        """`pin`: machine.Pin configured as input; `rising`: the port's Pin.IRQ_RISING constant."""
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._hold_ms = hold_ms
        self._last = None
        self.count = 0
        self.total = 0
        pin.irq(trigger=rising if rising is not None else pin.IRQ_RISING, handler=self._edge)

    def _edge(self, _pin):
        # Runs in interrupt context: no allocation beyond small ints.
        now = self._ticks_ms()
        if self._last is not None and self._ticks_diff(now, self._last) < self._hold_ms:
            return
        self._last = now
        self.count += 1
        self.total += 1

    def take(self):
        """-> presences counted since the last call."""
        n = self.count
        self.count -= n  # an edge arriving between the two lines is kept for the next period
        return n
