"""Luminaire transmitter: chips -> ESP32 RMT pulse durations (data) and LEDC duty (dimming), and the
beacon scheduler. Pure functions and a plain class: the firmware's HAL does the I/O.

RMT timing: ``rmt_clock_hz`` is the RMT tick rate (APB 80 MHz / clock_div). Use clock_div=1 (80 MHz):
a chip is then 400 ticks at 200 kHz and 200 at 400 kHz, so a VPPM pulse width moves in 0.5 % steps;
at clock_div=8 (10 MHz) it would move in 4 % steps, too coarse to hold the dimming level to 1 %.
"""

from protocols.lifi.builder import FrameBuilder
from protocols.lifi.dimming import vppm_duty
from protocols.lifi.errors import LifiError
from protocols.lifi.modes import OOK, mode_by_name

try:
    from time import ticks_diff
except ImportError:
    def ticks_diff(a, b):
        return a - b

RMT_MAX_TICKS = 32767  # 15-bit duration field of an ESP32 RMT item


def chip_ticks(mode, rmt_clock_hz):
    """RMT ticks per chip; the RMT clock must be a whole multiple of the optical clock."""
    mode = mode_by_name(mode)
    ticks, rest = divmod(rmt_clock_hz, mode.optical_clock_hz)
    if rest or ticks < 2:
        raise LifiError("RMT clock %d Hz is not a multiple (>= 2x) of the %d Hz optical clock"
                        % (rmt_clock_hz, mode.optical_clock_hz))
    return ticks


def _append(items, level, ticks):
    if ticks <= 0:
        return
    if items and items[-1][0] == level:
        ticks += items[-1][1]
        items.pop()
    while ticks > RMT_MAX_TICKS:
        items.append((level, RMT_MAX_TICKS))
        ticks -= RMT_MAX_TICKS
    items.append((level, ticks))


def vppm_pulse_ticks(mode, rmt_clock_hz, dim):
    """Width in RMT ticks of one VPPM pulse at this dimming level (the light actually sent is
    this / chip_ticks)."""
    t = chip_ticks(mode, rmt_clock_hz)
    w = int(vppm_duty(dim) * t + 0.5)
    return min(max(w, 1), t - 1)


def rmt_items(chips, mode, rmt_clock_hz, dim=None):
    """List of (level, ticks) runs for the chips; equal neighbours merged, long runs split at the RMT
    item limit. VPPM: bit 0 = pulse at the start of the symbol, bit 1 = pulse at its end."""
    mode = mode_by_name(mode)
    t = chip_ticks(mode, rmt_clock_hz)
    items = []
    if mode.modulation == OOK:
        i = 0
        n = len(chips)
        while i < n:
            level = chips[i]
            j = i + 1
            while j < n and chips[j] == level:
                j += 1
            _append(items, 1 if level else 0, (j - i) * t)
            i = j
        return items
    w = vppm_pulse_ticks(mode, rmt_clock_hz, dim)
    for c in chips:
        if c:
            _append(items, 0, t - w)
            _append(items, 1, w)
        else:
            _append(items, 1, w)
            _append(items, 0, t - w)
    return items


def rmt_pulses(items):
    """(durations, start level) for esp32.RMT.write_pulses(durations, start_level): the levels of
    merged runs alternate, so only the first one is needed."""
    if not items:
        return [], 0
    return [ticks for _, ticks in items], items[0][0]


def ledc_duty(dim, bits=10):
    """LEDC/PWM duty for a light level 0..1 at ``bits`` of resolution (duty_u16: bits=16)."""
    if not 0 <= dim <= 1:
        raise LifiError("light level %r outside 0..1" % (dim,))
    return int(dim * ((1 << bits) - 1) + 0.5)


class BeaconScheduler:
    """Decides what the luminaire sends next: a beacon every ``period_ms`` (its payload comes from
    ``source(now_ms)``, e.g. the beacon application), queued text messages in between.

    ``poll(now_ms)`` returns the chips of the next frame (a memoryview into a buffer reused by the
    next poll: hand it to the RMT before polling again), or None when nothing is due (the LED then
    runs at the LEDC dimming duty). Frames are built in buffers preallocated for ``max_payload``
    bytes. The message queue is bounded: when full the oldest message is dropped and counted
    (``stats['messages_dropped']``); a message longer than max_payload is refused (LifiError, counted
    in ``stats['messages_refused']``). With OOK dimming the compensation state runs on across frames so
    the mean light stays at the set level."""

    def __init__(self, mode, period_ms=250, dim=None, source=None, max_messages=4, max_payload=128):
        if period_ms <= 0:
            raise LifiError("beacon period must be positive")
        self.mode = mode_by_name(mode)
        self.period_ms = period_ms
        self.source = source
        self.max_messages = max_messages
        self.max_payload = max_payload
        self._messages = []
        self._next_due = None
        self.stats = {"beacons_sent": 0, "messages_sent": 0, "messages_dropped": 0,
                      "messages_refused": 0, "beacons_late": 0}
        self.set_dim(dim)

    def set_dim(self, dim):
        self.dim = dim
        self._builder = FrameBuilder(self.mode, self.max_payload, dim)

    def queue_message(self, payload):
        if len(payload) > self.max_payload:
            self.stats["messages_refused"] += 1
            raise LifiError("message of %d bytes exceeds %d" % (len(payload), self.max_payload))
        if len(self._messages) >= self.max_messages:
            self._messages.pop(0)
            self.stats["messages_dropped"] += 1
        self._messages.append(bytes(payload))

    @property
    def pending_messages(self):
        return len(self._messages)

    def poll(self, now_ms):
        if self.source is not None:
            if self._next_due is None:
                self._next_due = now_ms
            late = ticks_diff(now_ms, self._next_due)
            if late >= 0:
                if late >= self.period_ms:
                    # Fell behind by whole periods: skip them rather than send a burst.
                    self.stats["beacons_late"] += late // self.period_ms
                    self._next_due = now_ms
                self._next_due += self.period_ms
                self.stats["beacons_sent"] += 1
                return self._builder.build(self.source(now_ms))
        if self._messages:
            self.stats["messages_sent"] += 1
            return self._builder.build(self._messages.pop(0))
        return None
