"""Bit error rate of the coded OOK modes (RS outer code, interleaver, K=7 CC inner code), vectorised.

Method (stated because it is what makes 1e-5 reachable in minutes):

* all-zero codeword: RS, the interleaver and the CC are linear and the Manchester detector on a
  Gaussian channel is symmetric, so the error statistics do not depend on the data sent; the
  all-zero PSDU is sent and every decoded 1 is an error;
* chip level: each Manchester pair gives first - second = -1 + n, n ~ N(0, 1/gamma) (see `theory`),
  the soft value fed to the batch Viterbi decoder (`viterbi`, ML metric on unquantised values);
* bounded-distance RS: after de-interleaving (the core's interleaver order), a code word with at most
  (15 - k) / 2 wrong symbols is corrected, one with more is passed on with its data symbols as received
  (the core's decoder either refuses it, or in rare cases miscorrects it into another code word; both
  leave the data wrong). `check_against_core` compares this rule with `protocols.lifi.rs.decode`;
* with erasures (`max_erasures` > 0): the Viterbi decoder's per-bit reliabilities (soft-output
  Viterbi, SOVA, `viterbi.decode`) give each symbol the reliability of its least sure bit.
  A code word with at most (15 - k) / 2 wrong symbols is corrected by the errors-only first trial, as
  above; every other code word goes through the core's own GMD decoder
  (`protocols.lifi.rs.decode_block_gmd`) with those reliabilities, and its output is counted as it is
  (right, refused = data as received, or miscorrected). The rare blocks GMD must handle are thus
  measured exactly, not by a rule.
* with decoder feedback (`feedback` rounds; the receiver, `demod._rs_decode`, does one): in a frame
  with a refused block, the core's errors-only decoder runs on each refused block (so its rare
  miscorrections happen as in a receiver), the bits of every decoded block are pinned and the Viterbi
  decoder runs again (`viterbi.decode(known=...)`); GMD then takes the blocks still refused.
* only frames holding a block the errors-only rule refuses pay for soft output, feedback and the core's
  decoders: near BER 1e-5, a few frames in a thousand.

Eb/N0 is per information bit (AC energy, `theory.ebn0_db_manchester` with the code rate): a Manchester
code bit carries A^2 T / 2 (Eb/N0 = gamma / 2), an information bit 1 / rate of them, the rate counting
the RS code and the CC with its tail; uncoded OOK is on the same axis with rate 1, so a coding gain is a
difference of Eb/N0 at equal BER. The BER counts wrong PSDU data bits after RS decoding.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from protocols.lifi import cc, fec, rs
from sim.lifi import theory, viterbi

RS_N = 15


@dataclass(frozen=True)
class CodedPoint:
    gamma_db: float
    ebn0_db: float
    bit_errors: int
    bits: int
    frame_errors: int
    frames: int
    frame_error_squares: int = 0  # sum over frames of (bit errors in the frame)^2

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits

    @property
    def fer(self) -> float:
        return self.frame_errors / self.frames

    @property
    def ber_relative_se(self) -> float:
        """Relative standard error of the BER. Errors come in bursts (one failed frame holds many), so
        the spread is that of a sum over independent frames: sqrt(sum e_i^2) / sum e_i, which is
        about 1 / sqrt(frame errors) rather than 1 / sqrt(bit errors)."""
        if not self.bit_errors:
            return math.inf
        if not self.frame_error_squares:  # a point recorded without squares: count frames only
            return 1.0 / math.sqrt(self.frame_errors)
        return math.sqrt(self.frame_error_squares) / self.bit_errors

    def as_dict(self) -> dict:
        return {"gamma_db": self.gamma_db, "ebn0_db": self.ebn0_db, "ber": self.ber, "bit_errors": self.bit_errors,
                "bits": self.bits, "fer": self.fer, "frame_errors": self.frame_errors, "frames": self.frames,
                "ber_relative_se": round(self.ber_relative_se, 4)}


class CodedLink:
    """One PSDU layout: `n_bytes` data bytes, RS(15, k), CC `rate` (protocols.lifi.fec's chain)."""

    def __init__(self, n_bytes: int, rs_code: tuple[int, int], cc_rate: tuple[int, int],
                 max_erasures: int = 0, feedback: int = 0):
        self.n_bytes = n_bytes
        self.max_erasures = max_erasures
        self.feedback = feedback
        # decoded blocks whose bits feedback pins: at most this many symbols corrected. All errors-only
        # decodings (t): measured at 4.0 dB for RS(15,7), pinning only those within t - 1 = 3 left twice
        # the failed frames (177 against 90 of 24000): fewer pins cost more than the miscorrections.
        self.pin_corrections = (RS_N - rs_code[1]) // 2
        self.k = rs_code[1]
        self.cc_rate = cc_rate
        self.n_data = 2 * n_bytes
        self.n_symbols = rs.encoded_length(self.n_data, self.k)
        if self.n_data % self.k:
            raise ValueError("choose n_bytes so that the RS blocks are full (2 * n_bytes divisible by k)")
        self.blocks = self.n_data // self.k
        # interleaved position i carries RS symbol order[i]
        if self.n_symbols > 256:
            raise ValueError("keep the PSDU within 256 RS symbols (the interleaver map is read as bytes)")
        self.order = np.frombuffer(bytes(fec.interleave(bytearray(range(self.n_symbols)))), dtype=np.uint8)
        self.n_bits = 4 * self.n_symbols
        self.n_sent = cc.encoded_length(self.n_bits, cc_rate)

    @property
    def code_rate(self) -> float:
        return (8 * self.n_bytes) / self.n_sent

    def _soft(self, gamma: float, frames: int, rng: np.random.Generator) -> np.ndarray:
        """Manchester pair statistics of `frames` all-zero PSDUs: -1 + N(0, 1/gamma) per code bit."""
        return -1.0 + rng.normal(0.0, math.sqrt(1.0 / gamma), (frames, self.n_sent)).astype(np.float32)

    def _words(self, bits: np.ndarray) -> np.ndarray:
        """(frames, n_bits) decoded bits -> (frames, blocks, 15) de-interleaved RS words."""
        nibbles = bits.reshape(bits.shape[0], self.n_symbols, 4) @ np.array([8, 4, 2, 1])
        return self._deinterleave(nibbles)

    def _block_ok(self, words: np.ndarray) -> np.ndarray:
        """(frames, blocks) bool: errors-only decoding corrects the block (non-zero symbol = wrong)."""
        return np.count_nonzero(words, axis=2) <= (RS_N - self.k) // 2

    def _deinterleave(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[:, self.order] = values
        return out.reshape(values.shape[0], self.blocks, RS_N)

    def _known_bits(self, decoded: np.ndarray, trusted: np.ndarray) -> np.ndarray:
        """(frames, n_bits) int8 CC input bits known from the trusted decoded code words, -1 elsewhere."""
        symbols = np.where(trusted[:, :, None], decoded, -1).reshape(decoded.shape[0], -1)[:, self.order]
        bits = (symbols[:, :, None] >> np.array([3, 2, 1, 0])) & 1
        return np.where(symbols[:, :, None] < 0, -1, bits).astype(np.int8).reshape(decoded.shape[0], -1)

    def _decode_rows(self, soft: np.ndarray, words: np.ndarray, passes: int) -> np.ndarray:
        """(frames, blocks) information bit errors of frames that errors-only decoding did not fully
        correct. First `passes` rounds of decoder feedback: the Viterbi decoder runs again with the bits
        of the trusted decoded blocks pinned, and the blocks still refused are decoded again. Trusted:
        decoded errors-only with at most `pin_corrections` symbols changed. Miscorrections (a word with
        more than (15 - k) / 2 errors lands within t of another code word 1.6 % of the time for
        RS(15, 7)) happen here as in a receiver: the core's decoder runs on every refused block, and a
        miscorrected block is pinned as decoded.
        Then, with erasures on, GMD on the SOVA reliabilities of the last pass for the blocks still
        refused. GMD comes last because with up to 15 - k erasures it always finds some code word: it
        cannot say "refused", which is what feedback needs. A refused block is passed on as received."""
        changed = np.count_nonzero(words, axis=2)
        done = changed <= (RS_N - self.k) // 2
        trusted = changed <= self.pin_corrections
        decoded = np.zeros_like(words)  # the decoder's output for done blocks (all-zero PSDU: right)
        rows = np.arange(len(soft))  # frames still holding a refused block
        self._errors_only(words, rows, done, trusted, decoded)
        for round_ in range(passes + (1 if self.max_erasures else 0)):
            rows = rows[~done[rows].all(axis=1)]
            if not len(rows):
                break
            known = self._known_bits(decoded[rows], trusted[rows]) if passes else None
            soft_output = round_ == passes  # the GMD round
            out = viterbi.decode(soft[rows], self.cc_rate, self.n_bits, soft_output, known)
            bits, bit_rel = out if soft_output else (out, None)
            words[rows] = np.where(done[rows, :, None], words[rows], self._words(bits))
            changed = np.count_nonzero(words[rows], axis=2)
            fresh = ~done[rows]
            done[rows] |= changed <= (RS_N - self.k) // 2
            trusted[rows] |= fresh & (changed <= self.pin_corrections)
            self._errors_only(words, rows, done, trusted, decoded)
            if soft_output:
                self._gmd(words, self._deinterleave(viterbi.symbol_reliability(bit_rel)), rows, done, decoded)
        data = np.where(done[:, :, None], decoded, words)[:, :, :self.k]
        return _popcount4(data).sum(axis=2)

    def _errors_only(self, words, rows, done, trusted, decoded) -> None:
        """The core's errors-only decoder on the blocks of `rows` the rule calls refused (more than
        (15 - k) / 2 wrong symbols): it refuses most, and miscorrects a few into another code word."""
        for f in rows:
            for b in np.nonzero(~done[f])[0]:
                word = bytearray(words[f, b].astype(np.uint8).tobytes())
                try:
                    changes = rs.decode_block(word, self.k)
                except rs.RSError:
                    continue
                decoded[f, b] = np.frombuffer(bytes(word), dtype=np.uint8)
                done[f, b] = True
                trusted[f, b] = changes <= self.pin_corrections

    def _gmd(self, words, rel, rows, done, decoded) -> None:
        """The core's GMD decoder on every refused block of `rows` (rel holds those rows, in order)."""
        for i, f in enumerate(rows):
            for b in np.nonzero(~done[f])[0]:
                word = bytearray(words[f, b].astype(np.uint8).tobytes())
                try:
                    rs.decode_block_gmd(word, self.k, rel[i, b].tolist(), 0, self.max_erasures)
                except rs.RSError:
                    continue
                decoded[f, b] = np.frombuffer(bytes(word), dtype=np.uint8)
                done[f, b] = True

    def _errors(self, soft: np.ndarray, passes: int) -> np.ndarray:
        """(frames, blocks) information bit errors left after the whole receive chain."""
        words = self._words(viterbi.decode(soft, self.cc_rate, self.n_bits))
        ok = self._block_ok(words)
        errors = np.where(ok, 0, _popcount4(words[:, :, :self.k]).sum(axis=2))
        hard = np.nonzero(~ok.all(axis=1))[0]  # only these frames pay for soft output and feedback
        if len(hard) and (self.max_erasures or passes):
            errors[hard] = self._decode_rows(soft[hard], words[hard], passes)
        return errors

    def frame_errors(self, gamma: float, frames: int, rng: np.random.Generator) -> tuple[int, int, int]:
        """(information bit errors, frames with any error, sum over frames of squared bit errors) over
        `frames` all-zero PSDUs; the squares give the spread of a BER made of bursts."""
        per_frame = self._errors(self._soft(gamma, frames, rng), self.feedback).sum(axis=1)
        return int(per_frame.sum()), int(np.count_nonzero(per_frame)), int((per_frame ** 2).sum())

    def point(self, gamma_db: float, *, max_bits: int, min_errors: int, batch: int = 2000,
              seed: int = 0, min_frame_errors: int = 0) -> CodedPoint:
        """Batches until `min_errors` bit errors and `min_frame_errors` frame errors, or `max_bits`."""
        rng = np.random.default_rng(seed)
        gamma = theory.undb(gamma_db)
        errors = frame_errors = squares = frames = 0
        while ((errors < min_errors or frame_errors < min_frame_errors)
               and frames * 8 * self.n_bytes < max_bits):
            e, f, sq = self.frame_errors(gamma, batch, rng)
            errors += e
            frame_errors += f
            squares += sq
            frames += batch
        bits = frames * 8 * self.n_bytes
        return CodedPoint(gamma_db, theory.ebn0_db_manchester(gamma, self.code_rate), errors, bits,
                          frame_errors, frames, squares)

    def check_against_core(self, gamma_db: float, frames: int, seed: int = 0) -> tuple[int, int]:
        """(frames where this model and the core's stream decoder (`fec.decode_nibbles`, GMD with the
        same reliabilities when erasures are on) disagree on the data's correctness, frames compared),
        on Viterbi outputs at `gamma_db`. Decoder feedback is off here: the core has none."""
        rng = np.random.default_rng(seed)
        soft = self._soft(theory.undb(gamma_db), frames, rng)
        errors = self._errors(soft, 0)
        if self.max_erasures:
            bits, bit_rel = viterbi.decode(soft, self.cc_rate, self.n_bits, reliability=True)
            rel = viterbi.symbol_reliability(bit_rel)
        else:
            bits, rel = viterbi.decode(soft, self.cc_rate, self.n_bits), None
        nibbles = (bits.reshape(frames, self.n_symbols, 4) @ np.array([8, 4, 2, 1])).astype(np.uint8)
        disagree = 0
        for i, row in enumerate(nibbles):
            model_ok = not errors[i].any()
            try:
                data, _ = fec.decode_nibbles(bytearray(row.tobytes()), (RS_N, self.k), self.n_bytes,
                                             interleaved=True,
                                             reliability=None if rel is None else rel[i].tolist(),
                                             max_erasures=self.max_erasures)
                core_ok = not any(data)
            except ValueError:
                core_ok = False
            disagree += model_ok != core_ok
        return disagree, frames


def _popcount4(values: np.ndarray) -> np.ndarray:
    return (values & 1) + ((values >> 1) & 1) + ((values >> 2) & 1) + ((values >> 3) & 1)


def gamma_for_ber(points: list[CodedPoint], target: float) -> float:
    """SNR (dB) where the BER crosses `target`: log-BER interpolated linearly in dB between the two
    points that bracket it, or extrapolated from the last two points with errors when none does."""
    usable = [p for p in points if p.bit_errors > 0]
    for low, high in itertools.pairwise(usable):
        if low.ber >= target >= high.ber:
            break
    else:
        low, high = usable[-2], usable[-1]
    slope = (math.log10(high.ber) - math.log10(low.ber)) / (high.gamma_db - low.gamma_db)
    return low.gamma_db + (math.log10(target) - math.log10(low.ber)) / slope


def gamma_for_ber_interval(points: list[CodedPoint], target: float) -> tuple[float, float]:
    """(crossing in dB as `gamma_for_ber`, its standard error in dB): each of the two points used
    carries the BER's burst-aware standard error (`ber_relative_se`), propagated through the
    interpolation to first order (delta method)."""
    usable = [p for p in points if p.bit_errors > 0]
    for low, high in itertools.pairwise(usable):
        if low.ber >= target >= high.ber:
            break
    else:
        low, high = usable[-2], usable[-1]
    u, v, goal = math.log10(low.ber), math.log10(high.ber), math.log10(target)
    width = high.gamma_db - low.gamma_db
    crossing = low.gamma_db + (goal - u) * width / (v - u)
    d_u = width * (goal - v) / (v - u) ** 2  # d crossing / d log10(BER_low)
    d_v = -width * (goal - u) / (v - u) ** 2
    se_u = low.ber_relative_se / math.log(10)  # d log10(x) = dx / (x ln 10)
    se_v = high.ber_relative_se / math.log(10)
    return crossing, math.hypot(d_u * se_u, d_v * se_v)
