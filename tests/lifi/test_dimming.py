"""Dimming: mean light over every 5 ms window holds the set level through data, gaps and idle."""

import numpy as np
import pytest

from protocols.lifi import dimming, frame, modes
from protocols.lifi.errors import DimmingError

from . import reference as ref

LEVELS = [0.1, 0.2, 0.25, 0.3, 0.333, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9]
TOLERANCE = 0.01  # of full light, i.e. one percentage point


def _stream(mode, dim, sps):
    """idle, frame, short gap, frame, long gap, frame, idle: chips of one continuous transmission."""
    comp = dimming.Compensator(dim) if mode.modulation == "ook" else None
    parts = [dimming.idle_chips(3000, mode, dim, comp)]
    for i, size in enumerate((32, 200, 5)):
        parts.append(frame.build_frame(bytes(ref.lcg_bytes(i, size)), mode, dim, comp=comp))
        parts.append(dimming.idle_chips(40 if i == 0 else 2500, mode, dim, comp))
    chips = bytearray().join(parts)
    return np.frombuffer(dimming.light_samples(chips, mode, dim, sps), dtype=np.uint8)


def _window_means(samples, window):
    c = np.concatenate(([0], np.cumsum(samples, dtype=np.int64)))
    return (c[window:] - c[:-window]) / window


@pytest.mark.parametrize("name", ["ook-48.89k", "ook-11.67k", "vppm-124.4k"])
@pytest.mark.parametrize("dim", LEVELS)
def test_every_5ms_window_holds_the_level(name, dim):
    mode = modes.mode_by_name(name)
    sps = 1 if mode.modulation == "ook" else 200  # VPPM pulse width in 1/200 of a symbol
    samples = _stream(mode, dim, sps)
    window = mode.optical_clock_hz * sps // 200  # 5 ms
    means = _window_means(samples, window)
    assert len(means) > 0
    target = dimming.level_permille(dim) / 1000
    if mode.modulation == "vppm":
        target = round(dim * sps) / sps
    assert np.max(np.abs(means - target)) <= TOLERANCE
    assert abs(target - dim) <= 0.0051


def test_compensation_error_stays_within_a_chip_pair():
    comp = dimming.Compensator(0.137)
    chips = dimming.compensate(bytearray([1, 0] * 5000), comp)
    light = np.cumsum(np.frombuffer(chips, dtype=np.uint8), dtype=np.int64)
    ideal = 0.137 * np.arange(1, len(chips) + 1)
    assert np.max(np.abs(light - ideal)) <= 2.0
    assert comp.pairs_inserted == len(chips) // 2 - 5000


@pytest.mark.parametrize("dim", [0.05, 0.1, 0.3, 0.499, 0.5, 0.501, 0.77, 0.95])
def test_buffer_bound_covers_every_stream(dim):
    comp = dimming.Compensator(dim)
    for n_pairs in (0, 1, 2, 7, 60, 1000, 5001):
        for _ in range(3):  # also from whatever running error the last stream left
            exact = dimming.count_pairs(n_pairs, comp)
            slack = 4 + (2 * abs(comp.data_delta) + abs(comp.error)) // abs(comp.comp_delta)
            assert exact <= dimming.max_pairs(n_pairs, comp) <= exact + slack
            dimming.compensate(bytearray([1, 0] * n_pairs), comp)


def test_compensation_pairs_are_removed_without_knowing_the_level():
    data = bytearray([1, 0, 0, 1, 0, 1, 1, 0] * 50)
    for dim in (0.15, 0.85):
        comp = dimming.Compensator(dim)
        chips = dimming.compensate(data, comp)
        kept, positions = dimming.strip_compensation(chips, 0, comp.chip)
        assert kept == data
        assert all(chips[p:p + 2] == data[2 * i:2 * i + 2] for i, p in enumerate(positions))


def test_undimmed_level_needs_no_compensation():
    comp = dimming.Compensator(0.5)
    assert dimming.compensate(bytearray([1, 0] * 100), comp) == bytearray([1, 0] * 100)


def test_vppm_chips_do_not_change_with_level_and_pulse_positions():
    m = modes.mode_by_name("vppm-266.6k")
    assert frame.build_frame(b"abc", m, dim=0.2) == frame.build_frame(b"abc", m)
    samples = dimming.light_samples(bytearray([0, 1]), m, 0.3, 10)
    assert list(samples) == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]


def test_out_of_range_levels():
    for dim in (0.0, 0.01, 0.97, 1.0):
        with pytest.raises(DimmingError):
            dimming.Compensator(dim)
    with pytest.raises(DimmingError):
        frame.build_frame(b"x", "ook-100k", dim=0.99)
