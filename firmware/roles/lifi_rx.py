"""LiFi receiver: samples a photodiode through the ADC in bursts and reports the frames it decodes.

Each burst is sampled at `chip_rate * samples_per_chip` by a paced loop (it holds the event loop for
the burst's duration, `burst / (chip_rate * samples_per_chip)` seconds, then yields for `pause_s`), and
handed to the seam's streaming Receiver. A decoded frame becomes a `lifi-beacon` event (bytes and
quality); the period's count is the `lifi` reading. A frame cut by the end of a burst is lost (counted
in `cut` if its sync was seen; its start in the next burst's first samples is not searched, since they do
not follow) and beacons repeat; a frame cut by the start of a burst has no sync and is not seen.
"""

import asyncio
import gc
import time

from firmware.lifi_seam import Receiver
from firmware.roles import base, parts

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_DECODE_RESERVE = const(4096)


class LiFiReceiver(base.RoleBase):
    name = "lifi-rx"

    def __init__(self, hal, config, clock):
        base.RoleBase.__init__(self, hal, config, clock)
        pd = config["photodiode"]
        self._pd = pd
        self.chip_rate = pd["chip_rate"]
        self.sps = pd["samples_per_chip"]
        self.burst = pd.get("burst", 4096)
        self.pause_s = pd.get("pause_s", 0.5)
        self.period_s = config.get("period", base.DEFAULT_PERIOD_S)
        self._supply_spec = None
        for spec in config.get("parts", ()):
            if spec["part"] == "supply":
                self._supply_spec = spec
        self._supply = None
        self._adc = None
        # The largest blocks the role holds, taken at construction before the heap fragments. Samples
        # keep the ADC's top 8 bits: slicing OOK light against its mean needs no more.
        self._buf = bytearray(self.burst)
        self._rx = Receiver(self.sps, pd.get("mode", "ook-100k"))
        self._reserve = bytearray(_DECODE_RESERVE)
        self.memory_errors = 0
        self.reserve_lost = 0
        self.decoded = 0
        self._in_period = 0
        self._task = None

    def capabilities(self):
        caps = [base.capability("lifi", self.period_s)]
        if self._supply_spec is not None:
            caps.append(base.capability("vbat", self.period_s))
        return caps

    async def start(self):
        self._adc = self._hal.adc(self._pd["adc"])
        if self._supply_spec is not None:
            self._supply = parts.build(self._hal, self._buses, self._supply_spec)
        self._task = asyncio.create_task(self._listen())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _acquire(self):
        buf = self._buf
        adc = self._adc
        if adc is None:
            return
        read = adc.read_u16
        step_us = 1000000 // (self.chip_rate * self.sps)
        due = time.ticks_us()
        for i in range(len(buf)):
            buf[i] = read() >> 8
            due = time.ticks_add(due, step_us)
            while time.ticks_diff(due, time.ticks_us()) > 0:
                pass

    async def _listen(self):
        while True:
            base.call(self._book, "photodiode", self._acquire)
            self._rx.restart()  # a burst does not follow the previous one: no frame spans the pause
            self.feed(self._buf)
            await asyncio.sleep(self.pause_s)

    def feed(self, samples):
        """Decode one burst of samples: each frame is counted and becomes a `lifi-beacon` event.
        -> [(payload, quality)]."""
        # Decoding a frame allocates a few KB of scratch (header FEC, Viterbi metrics) in blocks of up
        # to ~1 KB; a long-running heap may hold that much free only in small holes. The reserve kept
        # since construction is let go for the decoder and taken again once it is done.
        self._reserve = None
        gc.collect()
        try:
            found = self._rx.feed(samples)
        except MemoryError:
            found = []
            self.memory_errors += 1  # this burst's frames are lost; the next burst starts afresh
        finally:
            gc.collect()
            try:
                self._reserve = bytearray(_DECODE_RESERVE)
            except MemoryError:
                self.reserve_lost += 1  # no such block free now: the next decode goes without
        for payload, quality in found:
            self._book.event("lifi-beacon", {"b": payload, "q": int(quality * 1000) / 1000})
        self.decoded += len(found)
        self._in_period += len(found)
        return found

    async def sample(self):
        records = []
        base.readings(self._book, "photodiode", ("lifi",), (self._in_period,), records)
        self._in_period = 0
        if self._supply is not None:
            v = base.call(self._book, "supply", self._supply.read)
            if v is not None:
                base.readings(self._book, "supply", ("vbat",), (v,), records)
        return records

    def status_ext(self):
        ext = {"decoded": self.decoded, "errors": self._rx.errors()}
        if self._rx.cut:
            ext["cut"] = self._rx.cut
        if self.memory_errors:
            ext["memory_errors"] = self.memory_errors
        if self.reserve_lost:
            ext["reserve_lost"] = self.reserve_lost
        if self._book.events_dropped:
            ext["events_dropped"] = self._book.events_dropped
        return ext

