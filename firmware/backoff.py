"""Reconnect pacing: exponential backoff with full jitter, and the random start-up delay.

A whole street powers up at once when the lighting circuit switches on; without jitter every node would
hit the broker in the same millisecond after each outage. Full jitter (AWS architecture blog, 2015)
draws each wait uniformly in [0, min(cap, base * 2**attempt)].
"""

import random


class Backoff:
    def __init__(self, base_ms=500, cap_ms=60000, randint=random.randint):
        if base_ms <= 0 or cap_ms < base_ms:
            raise ValueError("backoff needs 0 < base_ms <= cap_ms, got %r, %r" % (base_ms, cap_ms))
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.attempt = 0
        self._randint = randint

    def next_ms(self):
        """The wait before the next attempt; each call counts one more failed attempt."""
        ceiling = self.base_ms << min(self.attempt, 20)
        if ceiling > self.cap_ms:
            ceiling = self.cap_ms
        self.attempt += 1
        return self._randint(0, ceiling)

    def reset(self):
        self.attempt = 0


def startup_delay_ms(max_ms, randint=random.randint):
    """A uniform wait in [0, max_ms] before the first connection of a boot."""
    if max_ms <= 0:
        return 0
    return randint(0, max_ms)
