"""The seam between the roles and the LiFi modem: a transmitter on an ESP32 RMT channel and a receiver
over photodiode ADC samples, and the luminaire's periodic authenticated beacons. The roles only call
`Transmitter.send(payload)`, `BeaconSender.poll(now_ms)` and `Receiver.feed(samples)`; the modem core (protocols.lifi: IEEE 802.15.7 PHY I frames, line codes,
FEC, the low-rate receiver profile) sits behind them, and the transmitter takes any codec object with
`chips(payload)` and `mode`.

Chip rate: the PHY I modes run at a 200/400 kHz optical clock, far above what a MicroPython ADC loop can
sample. A board may send the same frames at a lower chip rate (`chip_rate` in its [lifi_tx] table) so a
MicroPython receiver can follow; OOK frames are then timed by run length here, while at a mode's own
optical clock the modem's RMT item builder (VPPM pulse widths included) is used.
"""

from protocols.lifi import beacon, frame, modes, rx_lowrate, tx

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_APB_HZ = const(80000000)
_RMT_MAX_TICKS = const(32767)
# Longest run of equal chips a frame holds (line codes keep runs short; the TDP has runs of 4), with
# margin: the divider is chosen so such a run still fits one RMT item.
_MAX_RUN_CHIPS = const(8)
# Beacon counters of one boot start at boot << BOOT_SHIFT: 2^20 beacons, 72 h at 4 per second, while a
# street light is switched off and on (a new boot) every day.
BOOT_SHIFT = const(20)
CHUNK_RUNS = const(128)
DEFAULT_MODE = "ook-100k"  # uncoded OOK-Manchester: the shortest frames, for low chip rates


class FrameCodec:
    """IEEE 802.15.7 PHY I frames from protocols.lifi, for the transmitter."""

    def __init__(self, mode=DEFAULT_MODE):
        self.mode = modes.mode_by_name(mode)

    def chips(self, payload):
        return frame.build_frame(payload, self.mode)


def rmt_clock_div(chip_rate):
    """Smallest RMT clock divider giving a whole number of ticks per chip within an RMT item."""
    for div in range(1, 256):
        clock = _APB_HZ // div
        if _APB_HZ % div == 0 and clock % chip_rate == 0 and clock // chip_rate * _MAX_RUN_CHIPS <= _RMT_MAX_TICKS:
            return div
    raise ValueError("no RMT clock divider fits a chip rate of %d/s" % chip_rate)


class Transmitter:
    """Sends frames on the luminaire's modulation pin through an RMT channel."""

    def __init__(self, rmt_factory, chip_rate, codec=None):
        """`rmt_factory(clock_div)` -> an esp32.RMT-like object (the HAL's rmt with channel and pin bound)."""
        self.codec = codec if codec is not None else FrameCodec()
        self.chip_rate = chip_rate
        self.clock_div = rmt_clock_div(chip_rate)
        self.ticks_per_chip = _APB_HZ // self.clock_div // chip_rate
        self._rmt = rmt_factory(self.clock_div)
        self._chunk = [0] * (CHUNK_RUNS + 1)  # a piece ends on an OFF run: at most one past the limit
        self.sent = 0

    def durations(self, chips):
        """-> (durations in RMT ticks, start level): one item per run of equal chips."""
        if self.chip_rate == getattr(self.codec.mode, "optical_clock_hz", None):
            return tx.rmt_pulses(tx.rmt_items(chips, self.codec.mode, _APB_HZ // self.clock_div))
        if getattr(self.codec.mode, "modulation", "ook") != "ook":
            raise ValueError("VPPM needs the mode's own optical clock")
        n = len(chips)
        runs = 0
        for i in range(n):
            if i == 0 or chips[i] != chips[i - 1]:
                runs += 1
        out = [0] * runs  # sized once: a frame has thousands of runs, growing a list would fragment
        r = -1
        for i in range(n):
            if i == 0 or chips[i] != chips[i - 1]:
                r += 1
                out[r] = 0
            out[r] += self.ticks_per_chip
            if out[r] > _RMT_MAX_TICKS:
                raise ValueError("run of %d ticks exceeds an RMT item" % out[r])
        return out, chips[0] if n else 0

    def send(self, payload):
        """Transmit one frame carrying `payload`; -> the number of chips sent. One RMT write when the
        heap holds the frame's pulse list in one block, else pieces (send_chunked)."""
        chips = self.codec.chips(payload)
        try:
            return self.send_chips(chips)
        except MemoryError:
            return self.send_chunked(chips)

    def send_chips(self, chips):
        """Transmit a frame already built; -> the number of chips sent."""
        durations, start_level = self.durations(chips)
        self._rmt.write_pulses(durations, bool(start_level))
        self.sent += 1
        return len(chips)

    def send_chunked(self, chips):
        """Transmit a frame in pieces of at most CHUNK_RUNS runs through one small list reused for every
        piece and every frame; -> the number of chips sent.

        Why: a beacon frame has ~1,300 runs; as one pulse list that is a 5 KB block on the chip (10 KB on
        the 64-bit simulator), more than a fragmented heap holds in one piece. Each piece ends after an OFF
        run: write_pulses waits for the previous piece, then starts the next, and the RMT idles OFF in
        between, so the hand-over only lengthens an OFF run by the driver's restart latency (assumed to be
        microseconds, against 125 us per chip at 8 kchip/s: to be measured on a board). Needs the lowered chip rate (run-length timing). On the
        chip the call returns once the last piece has started, so it holds the event loop for the frame's
        air time less one piece (~150 ms for a beacon at 8 kchip/s)."""
        if self.chip_rate == getattr(self.codec.mode, "optical_clock_hz", None):
            return self.send_chips(chips)
        out = self._chunk
        ticks = self.ticks_per_chip
        n = len(chips)
        i = 0
        while i < n:
            del out[:]  # the list keeps its memory: the appends below do not reallocate it
            start_level = chips[i]
            while i < n:
                level = chips[i]
                j = i + 1
                while j < n and chips[j] == level:
                    j += 1
                run = (j - i) * ticks
                if run > _RMT_MAX_TICKS:
                    raise ValueError("run of %d ticks exceeds an RMT item" % run)
                out.append(run)
                i = j
                if len(out) >= CHUNK_RUNS and not level:
                    break
            self._rmt.write_pulses(out, bool(start_level))
        self.sent += 1
        return n


class BeaconSender:
    """The luminaire's authenticated location beacon (protocols.lifi.beacon) every `period_ms`, built by
    a BeaconScheduler in buffers preallocated for one beacon and sent in pieces
    (Transmitter.send_chunked): nothing big is allocated while running.

    Counters start at boot << BOOT_SHIFT, so a reboot never reuses one (the gateway's replay window would
    refuse it). When this boot's range is used up the lamp stops beaconing and says why in `stopped`
    (the next boot starts a fresh range); `key` is the per-lamp key, never shown."""

    def __init__(self, transmitter, lamp_id, key, boot, period_ms=250):
        first = boot << BOOT_SHIFT
        self._limit = (boot + 1) << BOOT_SHIFT
        if self._limit > 0xFFFFFFFF:
            raise ValueError("boot %d is past the beacon counter's range: the lamp needs a new key" % boot)
        self._tx = transmitter
        self.signer = beacon.BeaconSigner(lamp_id, key, first)
        # Buffers for one beacon only: sized for 64-byte messages they would cost the 64 KB budget
        # ~3 KB more, which the runtime cannot spare (messages go through Transmitter.send).
        self.scheduler = tx.BeaconScheduler(transmitter.codec.mode, period_ms, source=self._next,
                                            max_messages=1, max_payload=beacon.BEACON_SIZE)
        self.stopped = None

    def _next(self, now_ms):
        return self.signer.next_beacon()

    def poll(self, now_ms):
        """Send the beacon if one is due; -> chips sent (0 when none was due or beacons stopped)."""
        if self.stopped is not None:
            return 0
        if self.signer.counter + 1 >= self._limit:
            self.stopped = "counter range of this boot used up"
            return 0
        chips = self.scheduler.poll(now_ms)
        if chips is None:
            return 0
        return self._tx.send_chunked(chips)

    @property
    def sent(self):
        return self.scheduler.stats["beacons_sent"]


class Receiver:
    """Decodes frames from bursts of photodiode ADC samples taken at `samples_per_chip` per chip, with
    the modem's streaming low-rate receiver (protocols.lifi.rx_lowrate): it slices against a running
    mean and times chips by run length, and keeps its state from one burst to the next."""

    def __init__(self, samples_per_chip, mode=DEFAULT_MODE, max_payload=64):
        self._found = []
        self.core = rx_lowrate.LowRateReceiver(mode, samples_per_chip, self._found.append, max_payload)
        self.cut = 0

    def feed(self, samples, full_scale=255):
        """-> [(payload, quality)] of the frames completed by this burst; quality in 0..1 is the
        burst's light swing relative to the samples' `full_scale`."""
        self.core.feed(samples)
        if not self._found:
            return []
        lo = hi = samples[0]
        for s in samples:
            if s < lo:
                lo = s
            elif s > hi:
                hi = s
        quality = (hi - lo) / full_scale
        found = [(payload, quality) for payload in self._found]
        self._found.clear()
        return found

    def restart(self):
        """A new capture starts (the samples do not follow the previous ones): a frame being collected
        was cut by the gap and is dropped (counted in `cut`), and the slicer starts afresh."""
        core = self.core
        if core._state:  # 0 is hunting (rx_lowrate._HUNT, a const MicroPython does not export)
            self.cut += 1
        core._hunt()
        core._mean = -1
        core._level = 0
        core._run = 0

    def errors(self):
        """Frames whose sync was found but which failed to decode (header, FEC, CRC, too long)."""
        st = self.core.stats
        return st["header_errors"] + st["crc_errors"] + st["fec_errors"] + st["too_long"]
