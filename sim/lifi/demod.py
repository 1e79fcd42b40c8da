"""CPython fast-path LiFi receiver: sampled light intensity -> decoded PHY I frames (numpy + modem core).

Pipeline:
1. saturation: the fraction of samples at the ADC's full scale is measured; when it is large and nothing
   decodes, the result says "saturated" instead of offering garbage (the CRCs already refuse garbage);
2. chips: DC/ambient removal and symbol timing recovery tolerant to clock offset (`timing`), one soft
   value per chip; for OOK a slicing level from a two-cluster fit per block of chips (AGC: a dimmed
   stream's mean is not its mid level), for VPPM the matched-filter difference needs none;
3. frame sync on the SHR: the topology-dependent pattern is searched in the hard chips with numpy
   (at most `header.MAX_SYNC_ERRORS` mismatches, the core's rule), both in its plain form and, for OOK,
   in the Manchester form of dimmed frames after removing compensation pairs (`dimming`'s rule);
4. PHR: decoded with the header mode, checked by `header.parse_header` (check sequence, fields);
5. PSDU: decoded through the core's codes (`fec`: RS and interleaver; the convolutional code by the
   numpy batch Viterbi on the same trellis, unquantised soft values; when an RS block is refused,
   one round of decoder feedback (the decoded blocks pin their bits, Viterbi again), then erasures:
   GMD over the soft-output Viterbi's symbol reliabilities, the core's `rs.decode_block_gmd`);
   Manchester and 4B6B decisions
   are vectorised here (4B6B by maximum correlation with the 16 code words, the maximum-likelihood
   decision the core's hard nearest-word rule approximates); CRC-16 checked.

The chip and frame layout is the core's (`protocols.lifi.header`, `frame`); the round trip against
`frame.build_frame` for every mode is what the tests hold this module to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protocols.lifi import fec, header, linecode, rs
from protocols.lifi.errors import HeaderError, LifiError, PayloadCRCError, TruncatedFrame
from protocols.lifi.modes import OOK, Mode, header_mode, mode_by_name
from sim.lifi import timing, viterbi

SATURATION_FRACTION = 0.01
LEVEL_BLOCK_CHIPS = 4096
DUTY_STEP = 0.01


class DemodError(ValueError):
    """The capture cannot be demodulated at all (too short, bad sampling parameters)."""


@dataclass(frozen=True)
class DecodedFrame:
    payload: bytes
    mode: str
    dimmed: bool
    start_sample: float  # where the topology pattern starts in the capture
    corrected: int  # symbols or bits repaired by the FEC and line code
    snr_db: float  # from the spread of the frame's chip decisions

    def as_dict(self) -> dict:
        return {"payload": self.payload.hex(), "mode": self.mode, "dimmed": self.dimmed,
                "start_sample": round(self.start_sample, 2), "corrected": self.corrected,
                "snr_db": round(self.snr_db, 2), "length": len(self.payload)}


@dataclass
class DemodResult:
    frames: list[DecodedFrame] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    clipped_fraction: float = 0.0
    saturated: bool = False
    chips: int = 0
    duty: float | None = None

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def as_dict(self) -> dict:
        return {"frames": [f.as_dict() for f in self.frames], "counts": dict(self.counts),
                "clipped_fraction": self.clipped_fraction, "saturated": self.saturated,
                "chips": self.chips, "duty": self.duty}


def two_levels(values: np.ndarray, iterations: int = 4) -> tuple[float, float]:
    """Centres of the low and high clusters of a two-level signal (1-D two-means, started by splitting
    at the mean)."""
    split = float(values.mean())
    low = high = split
    for _ in range(iterations):
        upper = values > split
        if upper.all() or not upper.any():
            break
        low, high = float(values[~upper].mean()), float(values[upper].mean())
        split = (low + high) / 2.0
    return low, high


def estimate_duty(samples: np.ndarray, sps: float) -> float:
    """VPPM duty from the DC-free levels: high sits at (1 - d) A, low at -d A above/below the mean."""
    dc_free = timing.remove_dc(samples, round(timing.DC_WINDOW_CHIPS * sps))
    low, high = two_levels(dc_free[:: max(1, int(sps) // 4)])
    if high - low <= 0:
        raise DemodError("no modulation in the capture")
    duty = -low / (high - low)
    return float(np.clip(round(duty / DUTY_STEP) * DUTY_STEP, 0.05, 0.95))


def _codebook_4b6b() -> np.ndarray:
    words = np.array(linecode.TABLE_4B6B)
    bits = (words[:, None] >> np.arange(5, -1, -1)[None, :]) & 1
    return 2.0 * bits - 1.0  # (16, 6): +1 where the chip is ON, first-sent chip first


_CODEBOOK = _codebook_4b6b()
_DISTANCE_4B6B = np.frombuffer(bytes(linecode.DISTANCE_4B6B), dtype=np.uint8)


class _Stream:
    """Soft chips (positive = ON), their ON/OFF distance and where each sits among the received chips."""

    def __init__(self, soft: np.ndarray, positions: np.ndarray, scale: np.ndarray):
        self.soft = soft
        self.positions = positions  # index of each chip in the received chip sequence
        self.scale = scale  # ON/OFF distance of each chip, for soft values


def _pair_differences(stream: _Stream, pos: int, n: int) -> np.ndarray:
    """Manchester pair statistic, first chip minus second, in units of the ON/OFF distance (+1: bit 1)."""
    pairs = stream.soft[pos:pos + n].reshape(-1, 2)
    return (pairs[:, 0] - pairs[:, 1]) / stream.scale[pos:pos + n:2]


def _rs_decode(bits: np.ndarray, mode: Mode, n_bytes: int, soft: np.ndarray | None = None) -> tuple[bytes, int]:
    """Viterbi output bits -> nibbles -> deinterleave and RS decode in the core. When that fails and
    the Viterbi input `soft` is given: one round of decoder feedback (the blocks that did decode pin
    their bits, the Viterbi decoder runs again, RS again), then per-symbol reliabilities from the
    soft-output pass and RS retried with erasures (GMD). Only frames that need them pay for these."""
    try:
        return _rs_stream(bits, mode, n_bytes)
    except LifiError:
        if soft is None:
            raise
    known = _feedback_bits(_nibbles(bits), mode, n_bytes)
    if known is not None:
        bits = viterbi.decode(soft, mode.cc, bits.shape[-1], known=known)
        try:
            return _rs_stream(bits, mode, n_bytes)
        except LifiError:
            pass
    bits, bit_reliability = viterbi.decode(soft, mode.cc, bits.shape[-1], reliability=True, known=known)
    reliability = viterbi.symbol_reliability(bit_reliability).tolist()
    return _rs_stream(bits, mode, n_bytes, reliability)


def _nibbles(bits: np.ndarray) -> np.ndarray:
    return (bits.reshape(-1, 4) @ np.array([8, 4, 2, 1])).astype(np.uint8)


def _rs_stream(bits: np.ndarray, mode: Mode, n_bytes: int,
               reliability: list | None = None) -> tuple[bytes, int]:
    data, corrected = fec.decode_nibbles(bytearray(_nibbles(bits).tobytes()), mode.rs, n_bytes,
                                         interleaved=True, reliability=reliability)
    return bytes(data), corrected


def _feedback_bits(nibbles: np.ndarray, mode: Mode, n_bytes: int) -> np.ndarray | None:
    """CC input bits (int8, -1 unknown) learnt from the RS blocks that decode errors-only (their rare
    miscorrections included: trusting only blocks within t - 1 corrections lost more than it saved,
    see `coded_ber`); None when no block decodes. The interleaver spread the Viterbi decoder's error
    bursts over several blocks, so pinning the decoded ones leaves the others far fewer errors."""
    k = mode.rs[1]
    trust = (fec.RS_N - k) // 2
    count = len(nibbles)
    words = fec.deinterleave(bytearray(nibbles.tobytes()))
    known = np.full(count, -1, dtype=np.int16)
    src = dst = 0
    while dst < 2 * n_bytes:
        length = min(k, 2 * n_bytes - dst) + fec.RS_N - k  # the last block may be shortened
        word = bytearray(words[src:src + length])
        try:
            if rs.decode_block(word, k) <= trust:
                known[src:src + length] = np.frombuffer(bytes(word), dtype=np.uint8)
        except rs.RSError:
            pass
        src += length
        dst += length - (fec.RS_N - k)
    if not np.any(known >= 0):
        return None
    sent = known[np.frombuffer(fec.interleave_order(count), dtype=np.uint16)]
    bits = (sent[:, None] >> np.array([3, 2, 1, 0])) & 1
    return np.where(sent[:, None] < 0, -1, bits).astype(np.int8).reshape(-1)


def _decode_field(stream: _Stream, pos: int, n_bytes: int, mode: Mode) -> tuple[bytes, int, int, np.ndarray]:
    """(bytes, corrections, position after the field, per-decision quality) of one PHR or PSDU."""
    n = header.field_chips(n_bytes, mode)
    if pos + n > len(stream.soft):
        raise TruncatedFrame("frame needs %d more chips, %d left" % (n, len(stream.soft) - pos))
    if mode.modulation == OOK:
        difference = _pair_differences(stream, pos, n)
        if mode.cc is not None:
            bits = viterbi.decode(difference, mode.cc, 4 * fec.coded_nibble_count(n_bytes, mode.rs))
            data, corrected = _rs_decode(bits, mode, n_bytes, difference)
        elif mode.rs is not None:
            bits = (difference > 0).astype(np.uint8)
            data, corrected = fec.decode_bits(bytearray(bits.tobytes()), mode.rs, None, n_bytes)
        else:
            data, corrected = np.packbits(difference > 0).tobytes(), 0
        return bytes(data), corrected, pos + n, np.abs(difference)
    chips = stream.soft[pos:pos + n]
    words = chips.reshape(-1, 6)
    nibbles = np.argmax(words @ _CODEBOOK.T, axis=1).astype(np.uint8)
    hard = (words > 0) @ (1 << np.arange(5, -1, -1))
    corrected = int(np.count_nonzero(_DISTANCE_4B6B[hard]))
    data, rs_corrected = fec.decode_nibbles(bytearray(nibbles.tobytes()), mode.rs, n_bytes)
    return bytes(data), corrected + rs_corrected, pos + n, np.abs(chips) / stream.scale[pos:pos + n]


def _snr_db(quality: np.ndarray) -> float:
    spread = float(np.std(quality))
    return 99.0 if spread == 0 else float(20.0 * np.log10(max(np.mean(quality), 1e-12) / spread))


_POPCOUNT_15 = np.array([bin(i).count("1") for i in range(1 << 15)], dtype=np.uint8)


def _mismatch_counts(hard: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Chip mismatches between `pattern` and the hard chips at every start position.

    The chips are packed 15 to an integer (first chip in the high bit) so that a pattern is compared
    15 chips at a time through a popcount table: a few array passes, whatever the pattern's length."""
    n = len(hard) - len(pattern) + 1
    padded = np.concatenate([hard.astype(np.uint16), np.zeros(14, dtype=np.uint16)])
    words = np.zeros(len(hard), dtype=np.uint16)
    for j in range(15):
        words = (words << 1) | padded[j:j + len(hard)]
    counts = np.zeros(n, dtype=np.int32)
    for start in range(0, len(pattern), 15):
        chunk = pattern[start:start + 15]
        shift = 15 - len(chunk)
        value = int("".join("1" if c else "0" for c in chunk), 2) << shift
        mask = ((1 << len(chunk)) - 1) << shift
        counts += _POPCOUNT_15[(words[start:start + n] ^ value) & mask]
    return counts


def _mismatch_positions(hard: np.ndarray, pattern: np.ndarray, limit: int, step: int = 1) -> np.ndarray:
    """Start indices where the hard chips differ from the pattern in at most `limit` places."""
    if len(hard) < len(pattern):
        return np.empty(0, dtype=np.int64)
    found = np.flatnonzero(_mismatch_counts(hard, pattern) <= limit)
    return found[found % step == 0] if step > 1 else found


def _strip_compensation(soft: np.ndarray, scale: np.ndarray, align: int, comp_chip: int) -> _Stream:
    """Drop pairs whose two chips both equal the compensation chip (dimming.strip_compensation's rule)."""
    n_pairs = (len(soft) - align) // 2
    pairs = soft[align:align + 2 * n_pairs].reshape(-1, 2)
    on = pairs > 0
    keep = ~((on[:, 0] == bool(comp_chip)) & (on[:, 1] == bool(comp_chip)))
    first = align + 2 * np.flatnonzero(keep)
    positions = np.stack([first, first + 1], axis=1).ravel()
    return _Stream(soft[positions], positions, scale[positions])


class _Receiver:
    def __init__(self, soft: np.ndarray, scale: np.ndarray, starts: np.ndarray, mode: Mode, topology: int,
                 result: DemodResult):
        self.mode = mode
        self.starts = starts
        self.result = result
        self.plain = _Stream(soft, np.arange(len(soft)), scale)
        self.tdp = np.frombuffer(bytes(header.tdp_bits(topology)), dtype=np.uint8)

    def candidates(self) -> list[tuple[int, _Stream, int]]:
        """(received chip index of the TDP start, stream, index after the TDP in that stream)."""
        found = {}
        hard = (self.plain.soft > 0).astype(np.uint8)
        for i in _mismatch_positions(hard, self.tdp, header.MAX_SYNC_ERRORS):
            found.setdefault(int(i), (self.plain, int(i) + len(self.tdp)))
        if self.mode.modulation == OOK:
            pattern = np.frombuffer(bytes(linecode.manchester_encode(bytes(self.tdp))), dtype=np.uint8)
            comp_chip = 1 if 2 * np.count_nonzero(hard) > len(hard) else 0
            for align in (0, 1):
                kept = _strip_compensation(self.plain.soft, self.plain.scale, align, comp_chip)
                hits = _mismatch_positions((kept.soft > 0).astype(np.uint8), pattern,
                                           2 * header.MAX_SYNC_ERRORS, step=2)
                for i in hits:
                    found.setdefault(int(kept.positions[i]), (kept, int(i) + len(pattern)))
        return [(start, stream, pos) for start, (stream, pos) in sorted(found.items())]

    def run(self) -> None:
        candidates = self.candidates()
        headers = self.decode_headers(candidates)
        resume = 0
        for (tdp_start, stream, _), phr in zip(candidates, headers):
            if tdp_start < resume:
                continue
            self.result.count("sync")
            try:
                decoded, end = self.decode(tdp_start, stream, phr)
            except LifiError as exc:  # header check, CRC, FEC, truncation: a refused frame, counted
                self.result.count(type(exc).__name__)
                continue
            self.result.frames.append(decoded)
            self.result.count("frames_ok")
            resume = end

    def decode_headers(self, candidates) -> list:
        """PHR of every candidate: (bytes, corrected, position after it, quality) or the LifiError.

        With a convolutional code (OOK) all PHRs go through one batch Viterbi run."""
        mode = header_mode(self.mode)
        n = header.field_chips(header.PHR_BYTES, mode)
        if mode.cc is None:
            out = []
            for _, stream, pos in candidates:
                try:
                    out.append(_decode_field(stream, pos, header.PHR_BYTES, mode))
                except LifiError as exc:
                    out.append(exc)
            return out
        out = [TruncatedFrame("frame ends inside its PHR")] * len(candidates)
        complete = [i for i, (_, stream, pos) in enumerate(candidates) if pos + n <= len(stream.soft)]
        if not complete:
            return out
        differences = np.stack([_pair_differences(candidates[i][1], candidates[i][2], n) for i in complete])
        n_nibbles = fec.coded_nibble_count(header.PHR_BYTES, mode.rs)
        bits = viterbi.decode(differences, mode.cc, 4 * n_nibbles)
        for row, i in enumerate(complete):
            try:
                data, corrected = _rs_decode(bits[row], mode, header.PHR_BYTES, differences[row])
            except LifiError as exc:
                out[i] = exc
                continue
            out[i] = (data, corrected, candidates[i][2] + n, np.abs(differences[row]))
        return out

    def decode(self, tdp_start: int, stream: _Stream, phr) -> tuple[DecodedFrame, int]:
        if isinstance(phr, LifiError):
            raise phr
        phr_bytes, corrected_h, pos, quality_h = phr
        psdu_mode, psdu_len, dimmed_flag = header.parse_header(phr_bytes)
        if psdu_mode.modulation != self.mode.modulation:
            raise HeaderError("PHR names %s, receiver listens for %s" % (psdu_mode.name, self.mode.modulation))
        psdu, corrected_p, pos, quality_p = _decode_field(stream, pos, psdu_len, psdu_mode)
        payload = psdu[:-header.CRC_BYTES]
        if header.crc16(payload) != (psdu[-2] << 8 | psdu[-1]):
            raise PayloadCRCError("PSDU CRC-16 mismatch")
        end = int(stream.positions[pos - 1]) + 1
        decoded = DecodedFrame(
            payload=payload, mode=psdu_mode.name, dimmed=stream is not self.plain or dimmed_flag,
            start_sample=float(self.starts[tdp_start]), corrected=corrected_h + corrected_p,
            snr_db=_snr_db(np.concatenate([quality_h, quality_p])))
        return decoded, end


def _ook_levels(soft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-chip slicing level and ON/OFF distance, from a two-level fit per block of chips (all blocks
    at once; a last partial block takes its predecessor's levels)."""
    rows = max(1, len(soft) // LEVEL_BLOCK_CHIPS)
    body = soft[:rows * LEVEL_BLOCK_CHIPS].reshape(rows, -1) if rows * LEVEL_BLOCK_CHIPS <= len(soft) \
        else soft[None, :]
    total = body.sum(axis=1, keepdims=True)
    split = total / body.shape[1]
    low = high = split
    for _ in range(3):
        upper = body > split
        n_upper = np.count_nonzero(upper, axis=1)[:, None]
        sum_upper = (body * upper).sum(axis=1, keepdims=True)
        high = sum_upper / np.maximum(n_upper, 1)
        low = (total - sum_upper) / np.maximum(body.shape[1] - n_upper, 1)
        split = (low + high) / 2.0
    per_row = body.shape[1]
    threshold = np.repeat(split.ravel(), per_row)
    scale = np.repeat(np.maximum(high - low, 1e-12).ravel(), per_row)
    missing = len(soft) - len(threshold)
    if missing > 0:
        threshold = np.concatenate([threshold, np.full(missing, threshold[-1])])
        scale = np.concatenate([scale, np.full(missing, scale[-1])])
    return threshold[:len(soft)], scale[:len(soft)]


def demodulate(samples: np.ndarray, mode, sps: float, *, duty: float | None = None,
               topology: int = header.TOPOLOGY_BROADCAST, full_scale: float = 1.0) -> DemodResult:
    """Decode every frame in a capture of light intensity (normalised so the ADC's full scale is
    `full_scale`) taken at `sps` samples per chip of `mode`'s optical clock. For VPPM, `duty` is the
    pulse width (estimated from the capture when None)."""
    mode = mode_by_name(mode)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1 or not np.all(np.isfinite(samples)):
        raise DemodError("samples must be a one-dimensional array of finite numbers")
    if sps < 2:
        raise DemodError("need at least 2 samples per chip, got %g" % sps)
    result = DemodResult()
    result.clipped_fraction = float(np.mean(samples >= full_scale)) if len(samples) else 0.0
    try:
        if mode.modulation == OOK:
            starts, soft = timing.recover_chips(samples, sps)
            threshold, scale = _ook_levels(soft)
            soft = soft - threshold
        else:
            result.duty = duty if duty is not None else estimate_duty(samples, sps)
            starts, statistic = timing.recover_chips(samples, sps, timing.vppm_symbol_statistic, result.duty)
            soft = -statistic  # positive: pulse at the end of the period: chip 1
            scale = np.full_like(soft, max(two_levels(np.abs(soft))[1], 1e-12))
    except (timing.TimingError, DemodError):
        # shorter than a timing block (no frame fits) or no modulation at all: nothing to decode
        result.count("no_timing")
        result.saturated = result.clipped_fraction > SATURATION_FRACTION
        return result
    result.chips = len(soft)
    _Receiver(soft, scale, starts, mode, topology, result).run()
    failures = sum(v for k, v in result.counts.items() if k not in ("sync", "frames_ok"))
    result.saturated = result.clipped_fraction > SATURATION_FRACTION and (not result.frames or failures > 0)
    return result

