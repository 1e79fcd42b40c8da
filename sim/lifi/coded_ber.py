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

Eb/N0 is per information bit (AC energy, `theory.ebn0_db_manchester` with the code rate).
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

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits

    @property
    def fer(self) -> float:
        return self.frame_errors / self.frames

    def as_dict(self) -> dict:
        return {"gamma_db": self.gamma_db, "ebn0_db": self.ebn0_db, "ber": self.ber, "bit_errors": self.bit_errors,
                "bits": self.bits, "fer": self.fer, "frame_errors": self.frame_errors, "frames": self.frames}


class CodedLink:
    """One PSDU layout: `n_bytes` data bytes, RS(15, k), CC `rate` (protocols.lifi.fec's chain)."""

    def __init__(self, n_bytes: int, rs_code: tuple[int, int], cc_rate: tuple[int, int], max_erasures: int = 0):
        self.n_bytes = n_bytes
        self.max_erasures = max_erasures
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

    def _viterbi(self, gamma: float, frames: int, rng: np.random.Generator):
        """Decoded RS symbols of `frames` all-zero PSDUs in sent (interleaved) order, and their
        reliabilities (None without erasures)."""
        # Manchester pair statistic for a 0 code bit: -1 + N(0, 1/gamma)
        soft = -1.0 + rng.normal(0.0, math.sqrt(1.0 / gamma), (frames, self.n_sent)).astype(np.float32)
        if self.max_erasures:
            bits, bit_rel = viterbi.decode(soft, self.cc_rate, self.n_bits, reliability=True)
            rel = viterbi.symbol_reliability(bit_rel)
        else:
            bits, rel = viterbi.decode(soft, self.cc_rate, self.n_bits), None
        return bits.reshape(frames, self.n_symbols, 4) @ np.array([8, 4, 2, 1]), rel

    def _block_ok(self, words: np.ndarray) -> np.ndarray:
        """(frames, blocks) bool: errors-only decoding corrects the block (non-zero symbol = wrong)."""
        return np.count_nonzero(words, axis=2) <= (RS_N - self.k) // 2

    def _data_bit_errors(self, words: np.ndarray, rel: np.ndarray | None) -> np.ndarray:
        """(frames, blocks) information bit errors left after RS decoding of de-interleaved words."""
        ok = self._block_ok(words)
        errors = np.where(ok, 0, _popcount4(words[:, :, :self.k]).sum(axis=2))
        if rel is not None:
            for f, b in zip(*np.nonzero(~ok)):
                word = bytearray(words[f, b].astype(np.uint8).tobytes())
                try:
                    rs.decode_block_gmd(word, self.k, rel[f, b].tolist(), 0, self.max_erasures)
                except rs.RSError:
                    continue  # refused: the data as received, already counted
                errors[f, b] = sum(s.bit_count() for s in word[:self.k])
        return errors

    def _deinterleave(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[:, self.order] = values
        return out.reshape(values.shape[0], self.blocks, RS_N)

    def frame_errors(self, gamma: float, frames: int, rng: np.random.Generator) -> tuple[int, int]:
        """(information bit errors, frames with any error) over `frames` all-zero PSDUs."""
        nibbles, rel = self._viterbi(gamma, frames, rng)  # ones are errors
        errors = self._data_bit_errors(self._deinterleave(nibbles),
                                       None if rel is None else self._deinterleave(rel))
        return int(errors.sum()), int(np.count_nonzero(errors.any(axis=1)))

    def point(self, gamma_db: float, *, max_bits: int, min_errors: int, batch: int = 2000,
              seed: int = 0) -> CodedPoint:
        rng = np.random.default_rng(seed)
        gamma = theory.undb(gamma_db)
        errors = frame_errors = frames = 0
        while errors < min_errors and frames * 8 * self.n_bytes < max_bits:
            e, f = self.frame_errors(gamma, batch, rng)
            errors += e
            frame_errors += f
            frames += batch
        bits = frames * 8 * self.n_bytes
        return CodedPoint(gamma_db, theory.ebn0_db_manchester(gamma, self.code_rate), errors, bits,
                          frame_errors, frames)

    def check_against_core(self, gamma_db: float, frames: int, seed: int = 0) -> tuple[int, int]:
        """(frames where this model and the core's stream decoder (`fec.decode_nibbles`, GMD with the
        same reliabilities when erasures are on) disagree on the data's correctness, frames compared),
        on Viterbi outputs at `gamma_db`."""
        rng = np.random.default_rng(seed)
        nibbles, rel = self._viterbi(theory.undb(gamma_db), frames, rng)
        nibbles = nibbles.astype(np.uint8)
        errors = self._data_bit_errors(self._deinterleave(nibbles),
                                       None if rel is None else self._deinterleave(rel))
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
