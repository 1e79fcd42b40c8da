"""Symbol timing recovery and chip integration for sampled light captures (numpy, vectorised).

The receiver samples at a nominal `sps` samples per chip but its clock is off by up to a few hundred ppm,
so over a long frame the chip grid slides by several chips. Timing is recovered per block of chips:

1. For each block and each of `CANDIDATES` trial phases (fractions of a chip), integrate the DC-free
   capture over every chip of the block (integrate-and-dump, via an interpolated cumulative sum so the
   chip edges may fall between samples) and measure the eye opening: the mean magnitude of the chip
   statistic. The opening, as a function of the trial phase, is periodic and symmetric about the true
   phase, so the angle of its first Fourier coefficient is that phase, free of the bias a peak pick has.
2. Neighbouring blocks' coefficients are summed (noise averaging), the phases unwrapped across blocks
   (a clock offset is a steady phase ramp), and the chip boundaries placed where the chip count
   n / sps - phase(n) crosses each integer.

No loop runs per sample or per chip in Python; the cost is a few interpolations over the capture.
"""

from __future__ import annotations

import numpy as np

CANDIDATES = 8
BLOCK_CHIPS = 64
SMOOTH_BLOCKS = 3
DC_WINDOW_CHIPS = 32


class TimingError(ValueError):
    """The capture is too short or the sampling too coarse to recover chip timing."""


def remove_dc(samples: np.ndarray, window: int) -> np.ndarray:
    """Subtract a centred moving average: removes ambient light, its slow drifts and (locally linear)
    mains flicker, which a centred average reproduces exactly. The ends use the nearest full window."""
    x = np.asarray(samples, dtype=np.float64)
    window = max(1, min(int(window), len(x)))
    cumulative = np.concatenate(([0.0], np.cumsum(x)))
    inner = (cumulative[window:] - cumulative[:-window]) / window  # inner[i] = mean of x[i:i + window]
    half = window // 2
    mean = np.empty_like(x)
    mean[half:half + len(inner)] = inner
    mean[:half] = inner[0]
    mean[half + len(inner):] = inner[-1]
    return x - mean


class Integrator:
    """Running integral of the sample-and-hold signal, read at fractional positions (piecewise linear
    between samples, so a read is exact)."""

    def __init__(self, signal: np.ndarray):
        self._cumulative = np.concatenate(([0.0], np.cumsum(np.asarray(signal, dtype=np.float64))))
        self._grid = np.arange(len(self._cumulative), dtype=np.float64)

    def __len__(self) -> int:
        return len(self._cumulative) - 1

    def at(self, positions: np.ndarray) -> np.ndarray:
        return np.interp(positions, self._grid, self._cumulative)

    def on_grid(self, first: float, count: int, step: int) -> np.ndarray:
        """Reads at first, first + step, ... (`step` a whole number of samples): strided slices, no search."""
        whole = int(np.floor(first))
        frac = first - whole
        low = self._cumulative[whole:whole + step * count:step]
        high = self._cumulative[whole + 1:whole + 1 + step * count:step]
        return low + frac * (high - low)


# A statistic maps `read(offset)` (running integral at every chip start + offset) to one value per chip.

def manchester_chip_statistic(read, sps: float, duty: float) -> np.ndarray:
    """Integral over each whole chip."""
    return read(sps) - read(0.0)


def vppm_symbol_statistic(read, sps: float, duty: float) -> np.ndarray:
    """Matched filter for VPPM: integral where only a '0' pulse lies minus where only a '1' pulse lies.

    '0' is a pulse over [0, d), '1' over [1 - d, 1) of the period; their difference is non-zero on
    [0, min(d, 1 - d)) and [max(d, 1 - d), 1). Positive means '0'."""
    width = min(duty, 1.0 - duty) * sps
    return (read(width) - read(0.0)) - (read(sps) - read(sps - width))


def _block_phasors(integral: Integrator, sps: float, statistic, duty: float) -> np.ndarray:
    block_samples = BLOCK_CHIPS * sps
    n_blocks = int((len(integral) - 2 * sps) // block_samples)
    if n_blocks < 1:
        raise TimingError("capture of %d samples is shorter than one timing block (%d chips of %g samples)"
                          % (len(integral), BLOCK_CHIPS, sps))
    trial = np.arange(CANDIDATES) / CANDIDATES
    count = n_blocks * BLOCK_CHIPS
    opening = np.empty((n_blocks, CANDIDATES))
    whole_sps = float(sps).is_integer()
    chip_starts = np.arange(count) * sps
    for i, phase in enumerate(trial):
        if whole_sps:
            def read(offset, first=phase * sps):
                return integral.on_grid(first + offset, count, int(sps))
        else:
            def read(offset, first=phase * sps):
                return integral.at(chip_starts + first + offset)
        values = np.abs(statistic(read, sps, duty))
        opening[:, i] = values.reshape(n_blocks, BLOCK_CHIPS).mean(axis=1)
    return opening @ np.exp(2j * np.pi * trial)


def chip_boundaries(integral: Integrator, sps: float, statistic=manchester_chip_statistic,
                    duty: float = 0.5) -> np.ndarray:
    """Sample positions of successive chip starts over the whole capture."""
    if sps < 2:
        raise TimingError("need at least 2 samples per chip, got %g" % sps)
    n_samples = len(integral)
    phasors = _block_phasors(integral, sps, statistic, duty)
    kernel = np.ones(SMOOTH_BLOCKS)
    smoothed = np.convolve(phasors, kernel, mode="same") if len(phasors) >= SMOOTH_BLOCKS else phasors
    phase = np.unwrap(np.angle(smoothed)) / (2.0 * np.pi)  # in chips
    centres = (np.arange(len(phase)) + 0.5) * BLOCK_CHIPS * sps
    anchor_pos = np.concatenate(([0.0], centres, [float(n_samples)]))
    anchor_phase = np.concatenate(([phase[0]], phase, [phase[-1]]))
    chip_count = anchor_pos / sps - anchor_phase
    first = int(np.ceil(chip_count[0]))
    last = int(np.floor(chip_count[-1])) - 1
    if last <= first:
        raise TimingError("capture too short")
    boundaries = np.interp(np.arange(first, last + 1, dtype=np.float64), chip_count, anchor_pos)
    return boundaries[(boundaries >= 0) & (boundaries + sps <= n_samples)]


def recover_chips(samples: np.ndarray, sps: float, statistic=manchester_chip_statistic,
                  duty: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(start sample of each chip, its soft value): DC removed, timing recovered, normalised by sps so
    OOK chips sit at +(1 - m) A / -m A around the local mean m, VPPM symbols at +-A min(d, 1 - d)."""
    dc_free = remove_dc(samples, round(DC_WINDOW_CHIPS * sps))
    integral = Integrator(dc_free)
    starts = chip_boundaries(integral, sps, statistic, duty)
    return starts, statistic(lambda offset: integral.at(starts + offset), sps, duty) / sps


def chip_statistics(samples: np.ndarray, sps: float, statistic=manchester_chip_statistic,
                    duty: float = 0.5) -> np.ndarray:
    """One soft value per chip (see recover_chips)."""
    return recover_chips(samples, sps, statistic, duty)[1]
