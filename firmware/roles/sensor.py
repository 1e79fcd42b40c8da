"""Sensor node for street furniture (bench, bus shelter, kiosk, bin, lamp post: board/config data).

Climate and light parts are read when the runtime asks for a sample. Three parts run in the
background: the microphone is sampled at `sample_hz` to integrate the period's LAeq, the PIR counts
presences by interrupt, and the particulate sensor's fan is woken `spinup_s` before the next expected
sample (learned from the interval between samples) and put back to sleep after its read.
"""

import asyncio
import time

from firmware.roles import base, parts

# Quantities each part reports, in record order.
QUANTITIES = {
    "bme280": ("temp", "pres", "hum"),
    "sht3x": ("temp", "hum"),
    "bh1750": ("lux",),
    "pms5003": ("pm25", "pm10"),
    "noise": ("noise",),
    "pir": ("presence",),
    "supply": ("vbat",),
}
_FAN_GUARD_S = 1.0  # wake the fan this much earlier than strictly needed


class _Part:
    def __init__(self, key, spec):
        self.key = key          # fault and status name: the part, suffixed when a board has two
        self.kind = spec["part"]
        self.spec = spec
        self.driver = None


class SensorNode(base.RoleBase):
    name = "sensor"

    def __init__(self, hal, config, clock):
        base.RoleBase.__init__(self, hal, config, clock)
        self._parts = []
        seen = {}
        for spec in config.get("parts", ()):
            kind = spec["part"]
            if kind not in QUANTITIES:
                raise ValueError("sensor role: unknown part %r" % (kind,))
            seen[kind] = seen.get(kind, 0) + 1
            self._parts.append(_Part(kind if seen[kind] == 1 else "%s-%d" % (kind, seen[kind]), spec))
        self.period_s = config.get("period", base.DEFAULT_PERIOD_S)
        self._last_sample_ms = None
        self._sampled = asyncio.Event()
        self._pm = None
        self._tasks = []

    def capabilities(self):
        caps = []
        names = []
        for p in self._parts:
            for q in QUANTITIES[p.kind]:
                if q not in names:
                    names.append(q)
                    caps.append(base.capability(q, self.period_s))
        return caps

    def _ensure(self, p):
        """Build the driver of `p` if not yet done, with its background task if it has one; a part
        whose bus cannot open is reported absent and tried again next period."""
        if p.driver is None:
            try:
                p.driver = parts.build(self._hal, self._buses, p.spec)
            except OSError:
                self._book.fail(p.key, "absent")
                return None
            if p.kind == "noise":
                self._tasks.append(asyncio.create_task(self._noise_loop(p)))
            elif p.kind == "pms5003":
                self._tasks.append(asyncio.create_task(self._fan_cycle(p)))
        return p.driver

    async def start(self):
        for p in self._parts:
            self._ensure(p)

    def stop(self):
        for t in self._tasks:
            t.cancel()
        self._tasks = []

    async def _noise_loop(self, p):
        pause = 1 / p.spec.get("sample_hz", 10)
        while True:
            base.call(self._book, p.key, p.driver.sample)
            await asyncio.sleep(pause)

    def _until_next_sample_s(self):
        if self._last_sample_ms is None:
            return self.period_s
        elapsed = time.ticks_diff(self._hal.ticks_ms(), self._last_sample_ms) / 1000
        return self.period_s - elapsed

    async def _fan_cycle(self, p):
        pms = p.driver
        while True:
            wait = self._until_next_sample_s() - pms.spinup_s - _FAN_GUARD_S
            if wait > 0:
                if pms.awake:
                    base.call(self._book, p.key, pms.sleep)
                await asyncio.sleep(wait)
            self._pm = await base.attempt(self._book, p.key, pms.read())
            self._sampled.clear()
            await self._sampled.wait()

    def _note_sample(self):
        now = self._hal.ticks_ms()
        if self._last_sample_ms is not None:
            # The runtime owns the period (and may change it by command): learn it from the calls.
            self.period_s = max(0.001, time.ticks_diff(now, self._last_sample_ms) / 1000)
        self._last_sample_ms = now
        self._sampled.set()

    async def sample(self):
        records = []
        done = []
        book = self._book
        for p in self._parts:
            drv = self._ensure(p)
            if drv is None:
                continue
            if p.kind in ("bme280", "sht3x", "bh1750"):
                values = await base.attempt(book, p.key, drv.read())
                if values is None:
                    continue
                if p.kind == "bh1750":
                    values = (values,)
            elif p.kind == "pms5003":
                if self._pm is None:
                    continue  # still spinning up, or its fault is already booked
                values = self._pm[1:]
                self._pm = None
            elif p.kind == "noise":
                values = drv.take()
                if values is None:
                    continue  # not sampled yet this period (just started)
                values = (values,)
            elif p.kind == "pir":
                values = (drv.take(),)
            else:
                values = base.call(book, p.key, drv.read)
                if values is None:
                    continue
                values = (values,)
            base.readings(book, p.key, QUANTITIES[p.kind], values, records, done)
        self._note_sample()
        return records

    def status_ext(self):
        ext = {"furniture": self._config.get("furniture", "")}
        for p in self._parts:
            if p.kind == "pms5003" and p.driver is not None:
                ext["fan"] = "on" if p.driver.awake else "off"
        if self._book.events_dropped:
            ext["events_dropped"] = self._book.events_dropped
        return ext

