"""Simulated bit error rate curves of the PHY I line codes against theory (numpy + matplotlib).

Two levels of simulation, both vectorised:

* receiver level: random bits -> chips -> light samples at `sps` samples per chip (rectangular chips,
  VPPM pulses of width d), optional clock offset and 100 Hz mains light, white Gaussian noise of the
  exact SNR, then the real fast-path receiver front end (`timing.chip_statistics`: DC removal, timing
  recovery, integrate-and-dump) and the line-code decision. Errors are counted against the bits sent,
  frame by frame (a timing slip costs the rest of its frame, as it would on air).
* detector level: the matched-filter outputs are drawn directly from their Gaussian law at the chip
  rate; this reaches 1e-7 BER cheaply and checks the decision rule, not the front end.

SNR is gamma = A^2 T / N0 per optical clock period (see `theory`); `theory` has the formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.lifi import channel, theory, timing

MIN_ERRORS = 100


@dataclass(frozen=True)
class BerPoint:
    gamma_db: float
    errors: int
    bits: int
    theory: float

    @property
    def ber(self) -> float:
        return self.errors / self.bits if self.bits else float("nan")

    def as_dict(self) -> dict:
        return {"gamma_db": self.gamma_db, "ber": self.ber, "errors": self.errors, "bits": self.bits,
                "theory": self.theory}


@dataclass(frozen=True)
class Impairments:
    clock_offset_ppm: float = 0.0
    mains_over_signal_db: float | None = None  # AC power of 100 Hz + harmonics relative to the data's
    sample_rate_hz: float = 800_000.0  # only matters for the mains light's frequency


def manchester_chips(bits: np.ndarray) -> np.ndarray:
    """bit 1 -> chips 1 0, bit 0 -> chips 0 1 (protocols.lifi.linecode)."""
    chips = np.empty(2 * len(bits), dtype=np.float64)
    chips[0::2] = bits
    chips[1::2] = 1 - bits
    return chips


def vppm_waveform(symbols: np.ndarray, duty: float, sps: int) -> np.ndarray:
    """Symbol 0: pulse over the first d of the period, 1: over the last d (one sample resolution)."""
    width = round(duty * sps)
    period = np.zeros((len(symbols), sps))
    period[symbols == 0, :width] = 1.0
    period[symbols == 1, sps - width:] = 1.0
    return period.ravel()


def _impair(waveform: np.ndarray, imp: Impairments, signal_ac_power: float,
            rng: np.random.Generator) -> np.ndarray:
    if imp.mains_over_signal_db is not None:
        mains = channel.MainsInterference.with_ac_power(
            signal_ac_power * theory.undb(imp.mains_over_signal_db), seed=int(rng.integers(1 << 31)))
        start = rng.uniform(0, 0.01)
        waveform = waveform + mains.waveform(start + np.arange(len(waveform)) / imp.sample_rate_hz)
    if imp.clock_offset_ppm:
        waveform = channel.resample_clock(waveform, imp.clock_offset_ppm, start=float(rng.uniform(0, 1)))
    return waveform


def _align(decided: np.ndarray, sent: np.ndarray, search: int = 6) -> int:
    """Offset o such that decided[k] is sent chip k + o (timing drops the first partial chips)."""
    n = min(256, len(decided) - search, len(sent) - search)
    scores = [np.count_nonzero(decided[:n] == sent[o:o + n]) for o in range(search)]
    return int(np.argmax(scores))


def manchester_frame_errors(bits: np.ndarray, gamma: float, sps: int, imp: Impairments,
                            rng: np.random.Generator) -> tuple[int, int]:
    """(bit errors, bits compared) for one frame through the receiver front end."""
    chips = manchester_chips(bits)
    waveform = _impair(np.repeat(chips, sps), imp, 0.25, rng)
    waveform = waveform + rng.normal(0.0, theory.noise_sigma(gamma, 1.0, sps), len(waveform))
    stats = timing.chip_statistics(waveform, sps)
    offset = _align((stats > 0).astype(np.float64), chips)
    first_bit = (offset + 1) // 2
    start = 2 * first_bit - offset  # index in stats of the first chip of bit `first_bit`
    n_bits = min((len(stats) - start) // 2, len(bits) - first_bit)
    pairs = stats[start:start + 2 * n_bits].reshape(-1, 2)
    decided = (pairs[:, 0] > pairs[:, 1]).astype(np.int64)
    return int(np.count_nonzero(decided != bits[first_bit:first_bit + n_bits])), n_bits


def vppm_frame_errors(symbols: np.ndarray, gamma: float, duty: float, sps: int, imp: Impairments,
                      rng: np.random.Generator) -> tuple[int, int]:
    waveform = vppm_waveform(symbols, duty, sps)
    waveform = _impair(waveform, imp, duty * (1 - duty), rng)
    waveform = waveform + rng.normal(0.0, theory.noise_sigma(gamma, 1.0, sps), len(waveform))
    stats = timing.chip_statistics(waveform, sps, timing.vppm_symbol_statistic, duty)
    decided = (stats < 0).astype(np.int64)  # positive statistic: pulse first: symbol 0
    offset = _align(decided, symbols)
    n = min(len(decided), len(symbols) - offset)
    return int(np.count_nonzero(decided[:n] != symbols[offset:offset + n])), n


def receiver_ber(gamma_db: float, *, modulation: str = "ook", duty: float = 0.5, sps: int = 4,
                 frame_bits: int = 8000, max_bits: int = 10**6, min_errors: int = MIN_ERRORS,
                 impairments: Impairments = Impairments(), seed: int = 0) -> BerPoint:
    """Frames of `frame_bits` until `min_errors` errors or `max_bits` bits."""
    rng = np.random.default_rng(seed)
    gamma = theory.undb(gamma_db)
    errors = total = 0
    while errors < min_errors and total < max_bits:
        bits = rng.integers(0, 2, frame_bits)
        if modulation == "ook":
            e, n = manchester_frame_errors(bits, gamma, sps, impairments, rng)
        else:
            e, n = vppm_frame_errors(bits, gamma, duty, sps, impairments, rng)
        errors += e
        total += n
    expected = theory.ber_manchester(gamma) if modulation == "ook" else theory.ber_vppm(gamma, duty)
    return BerPoint(gamma_db, errors, total, expected)


def detector_ber(gamma_db: float, *, modulation: str = "ook", duty: float = 0.5,
                 max_bits: int = 10**7, min_errors: int = MIN_ERRORS, chunk: int = 2 * 10**6,
                 seed: int = 0) -> BerPoint:
    """Matched-filter outputs drawn from their law (A = T = 1, noise N0/2 = 1 / (2 gamma)).

    OOK-Manchester: each chip's integral is c + n, n ~ N(0, 1/(2 gamma)); decide on first - second.
    VPPM: the statistic is +-m + n, n ~ N(0, m / gamma), m = min(d, 1 - d)."""
    rng = np.random.default_rng(seed)
    gamma = theory.undb(gamma_db)
    errors = total = 0
    while errors < min_errors and total < max_bits:
        n = min(chunk, max_bits - total)
        bits = rng.integers(0, 2, n)
        if modulation == "ook":
            chips = rng.normal(0.0, math.sqrt(1.0 / (2.0 * gamma)), (n, 2))
            chips[:, 0] += bits
            chips[:, 1] += 1 - bits
            decided = chips[:, 0] > chips[:, 1]
        else:
            m = min(duty, 1.0 - duty)
            statistic = np.where(bits == 0, m, -m) + rng.normal(0.0, math.sqrt(m / gamma), n)
            decided = statistic < 0
        errors += int(np.count_nonzero(decided != bits.astype(bool)))
        total += n
    expected = theory.ber_manchester(gamma) if modulation == "ook" else theory.ber_vppm(gamma, duty)
    return BerPoint(gamma_db, errors, total, expected)


def gap_db(point: BerPoint, modulation: str = "ook", duty: float = 0.5) -> float:
    """How many dB worse than theory a measured point is (needs at least one error)."""
    if point.errors == 0:
        return float("-inf")
    inverse = theory.gamma_manchester if modulation == "ook" else (lambda p: theory.gamma_vppm(p, duty))
    return theory.snr_gap_db(point.ber, theory.undb(point.gamma_db), inverse)


def plot_curves(curves: dict[str, list[BerPoint]], path: str, title: str,
                theory_curves: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> str:
    """Simulated points (markers) and theoretical curves (lines), log BER against gamma in dB."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5.5))
    for label, (x_db, ber) in (theory_curves or {}).items():
        axes.semilogy(x_db, ber, "-", linewidth=1, label=label)
    for label, points in curves.items():
        shown = [p for p in points if p.errors > 0]
        axes.semilogy([p.gamma_db for p in shown], [p.ber for p in shown], "o", markersize=4, label=label)
    axes.set_xlabel("SNR per optical clock period, A²T/N0 (dB)")
    axes.set_ylabel("bit error rate")
    axes.set_ylim(1e-7, 0.5)
    axes.grid(True, which="both", alpha=0.3)
    axes.set_title(title)
    axes.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
