"""Low-rate LiFi receiver profile a MicroPython ADC loop can sustain (common CPython/MicroPython subset).

The PHY I optical clocks (200/400 kHz) are far beyond what MicroPython can sample and process, so a
receiver node built on an ESP32's ADC uses this profile: the same frames (`frame.build_frame`, OOK,
undimmed, any OOK MCS) sent by the luminaire at a low optical clock, `PROFILE_CHIP_HZ`, and sampled at
`sps` samples per chip (4 by default: 32 kS/s, delivered in blocks by the ADC's DMA). 8 kHz keeps the
idle pattern and most of Manchester's energy above the 3 kHz the IEEE 1789 flicker limits cover.

Per sample the work is a few integer operations (a running mean as slicing level and a run-length
counter); everything else runs per chip or per frame:

* timing: every light transition restarts the run counter, so a run of L samples is round(L / sps)
  chips; clock offsets of hundreds of ppm do not accumulate across runs;
* sync: a 15-chip register must equal the last quarter of the topology pattern (one chip error
  allowed), then the whole 60-chip pattern is checked with the core's tolerance;
* decoding: the PHR and PSDU chips are collected into a preallocated buffer and decoded with the core
  (`fec`, `linecode`, `header`), the CRC-16 checked, and `on_frame(payload)` called.

Bounds: a frame longer than the buffer is abandoned and counted (`too_long`); nothing else is kept.
"""

from protocols.lifi import fec, header, linecode
from protocols.lifi.errors import LifiError
from protocols.lifi.modes import OOK, header_mode, mode_by_name

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

PROFILE_CHIP_HZ = const(8000)
DEFAULT_SPS = const(4)
_MEAN_SHIFT = const(6)  # running mean over ~64 samples (16 chips at 4 samples per chip)
_FIX = const(8)  # fixed-point fraction bits of the running mean
_MAX_RUN_CHIPS = const(8)
_HUNT = const(0)
_COLLECT = const(1)


def _quarter_patterns(topology):
    """Accepted values of the 15-chip register at the end of the TDP: the last quarter, +-1 chip."""
    bits = header.tdp_bits(topology)
    last = 0
    for i in range(45, 60):
        last = (last << 1) | bits[i]
    accepted = {last}
    for i in range(15):
        accepted.add(last ^ (1 << i))
    return accepted


class LowRateReceiver:
    """Feed ADC samples (ints or floats, any scale) with `feed`; decoded payloads go to `on_frame`."""

    def __init__(self, mode="ook-100k", sps=DEFAULT_SPS, on_frame=None, max_payload=64,
                 topology=header.TOPOLOGY_BROADCAST):
        self.mode = mode_by_name(mode)
        if self.mode.modulation != OOK:
            raise LifiError("the low-rate profile is OOK only")
        self.sps = sps
        self.on_frame = on_frame
        self._tdp = header.tdp_bits(topology)
        self._quarter = _quarter_patterns(topology)
        self._phr_chips = header.field_chips(header.PHR_BYTES, header_mode(self.mode))
        self._max_chips = (header.TDP_BITS + self._phr_chips
                           + header.field_chips(max_payload + header.CRC_BYTES, self.mode))
        self._frame = bytearray(self._max_chips)
        self._recent = bytearray(header.TDP_BITS)  # ring of the last 60 chips while hunting
        self._recent_pos = 0
        self._register = 0
        self._mean = -1
        self._level = 0
        self._run = 0
        self._state = _HUNT
        self._count = 0
        self._need = 0
        self._psdu = None
        self.stats = {"samples": 0, "chips": 0, "sync": 0, "frames_ok": 0, "header_errors": 0,
                      "crc_errors": 0, "fec_errors": 0, "too_long": 0}

    def feed(self, samples):
        sps = self.sps
        half = sps >> 1
        mean = self._mean
        level = self._level
        run = self._run
        for x in samples:
            x = int(x) << _FIX
            if mean < 0:
                mean = x
            mean += (x - mean) >> _MEAN_SHIFT
            now = 1 if x > mean else 0
            if now == level:
                run += 1
                continue
            chips = (run + half) // sps
            if chips:
                chips = min(chips, _MAX_RUN_CHIPS)
                for _ in range(chips):
                    self._chip(level)
                level = now
                run = 1
            else:
                # a glitch shorter than half a chip: keep the current level
                run += 1
        self._mean = mean
        self._level = level
        self._run = run
        self.stats["samples"] += len(samples)

    def _chip(self, chip):
        self.stats["chips"] += 1
        if self._state == _COLLECT:
            self._frame[self._count] = chip
            self._count += 1
            if self._count == self._need:
                self._advance()
            return
        self._recent[self._recent_pos] = chip
        self._recent_pos = (self._recent_pos + 1) % header.TDP_BITS
        self._register = ((self._register << 1) | chip) & 0x7FFF
        if self._register in self._quarter and self._tdp_matches():
            self.stats["sync"] += 1
            start = self._recent_pos
            for i in range(header.TDP_BITS):
                self._frame[i] = self._recent[(start + i) % header.TDP_BITS]
            self._state = _COLLECT
            self._count = header.TDP_BITS
            self._need = header.TDP_BITS + self._phr_chips
            self._psdu = None

    def _tdp_matches(self):
        errors = 0
        start = self._recent_pos
        for i in range(header.TDP_BITS):
            if self._recent[(start + i) % header.TDP_BITS] != self._tdp[i]:
                errors += 1
                if errors > header.MAX_SYNC_ERRORS:
                    return False
        return True

    def _hunt(self):
        self._state = _HUNT
        self._register = 0

    def _decode(self, start, n_bytes, mode):
        n_bits = header.field_chips(n_bytes, mode) // 2
        if mode.cc is not None:
            values = linecode.manchester_soft(self._frame, n_bits, start)
            return fec.decode_bits(values, mode.rs, mode.cc, n_bytes, soft=True)[0]
        bits = linecode.manchester_decode(self._frame, n_bits, start)
        return fec.decode_bits(bits, mode.rs, None, n_bytes)[0]

    def _advance(self):
        if self._psdu is None:
            try:
                phr = self._decode(header.TDP_BITS, header.PHR_BYTES, header_mode(self.mode))
                psdu_mode, psdu_len, dimmed = header.parse_header(phr)
            except LifiError as exc:
                self.stats["fec_errors" if isinstance(exc, fec.FECError) else "header_errors"] += 1
                self._hunt()
                return
            need = header.TDP_BITS + self._phr_chips + header.field_chips(psdu_len, psdu_mode)
            if psdu_mode.modulation != OOK or dimmed:
                self.stats["header_errors"] += 1
                self._hunt()
                return
            if need > self._max_chips:
                self.stats["too_long"] += 1
                self._hunt()
                return
            self._psdu = (psdu_mode, psdu_len)
            self._need = need
            return
        psdu_mode, psdu_len = self._psdu
        self._hunt()
        try:
            psdu = self._decode(header.TDP_BITS + self._phr_chips, psdu_len, psdu_mode)
        except LifiError:
            self.stats["fec_errors"] += 1
            return
        payload = bytes(psdu[:psdu_len - header.CRC_BYTES])
        if header.crc16(payload) != (psdu[psdu_len - 2] << 8 | psdu[psdu_len - 1]):
            self.stats["crc_errors"] += 1
            return
        self.stats["frames_ok"] += 1
        if self.on_frame is not None:
            self.on_frame(payload)
