"""BER theory formulas and the Monte-Carlo simulation against them (small counts, fixed seeds, wide margins)."""

import math

import pytest

from sim.lifi import ber, theory


def test_q_function_and_its_inverse():
    assert theory.q_function(0.0) == 0.5
    assert theory.q_function(3.090232) == pytest.approx(1e-3, rel=1e-5)
    assert theory.q_inverse(1e-5) == pytest.approx(4.264891, rel=1e-6)


def test_manchester_formula_is_antipodal_in_ac_energy_per_bit():
    # Q(sqrt(2 Eb/N0)): 9.59 dB Eb/N0 gives 1e-5, the textbook antipodal figure
    gamma = theory.gamma_manchester(1e-5)
    assert theory.ebn0_db_manchester(gamma) == pytest.approx(9.59, abs=0.01)


def test_vppm_formula_symmetry_and_half_duty_equals_manchester_on_half_chips():
    for d in (0.1, 0.25, 0.4):
        assert theory.ber_vppm(20.0, d) == pytest.approx(theory.ber_vppm(20.0, 1 - d), rel=1e-12)
    # d = 1/2 is Manchester on chips of half the period: half the SNR per chip
    assert theory.ber_vppm(14.0, 0.5) == pytest.approx(theory.ber_manchester(7.0), rel=1e-12)
    assert theory.ber_vppm(30.0, 0.1) > theory.ber_vppm(30.0, 0.3) > theory.ber_vppm(30.0, 0.5)
    assert theory.gamma_vppm(theory.ber_vppm(17.0, 0.2), 0.2) == pytest.approx(17.0, rel=1e-9)


def test_noise_sigma_gives_the_requested_snr():
    sigma = theory.noise_sigma(10.0, 1.0, 4)
    assert 1.0**2 * 4 / (2 * sigma**2) == pytest.approx(10.0)


@pytest.mark.parametrize("modulation, duty", [("ook", 0.5), ("vppm", 0.2), ("vppm", 0.8)])
def test_detector_level_simulation_tracks_theory(modulation, duty):
    gamma_db = theory.db(theory.gamma_manchester(1e-2) if modulation == "ook" else theory.gamma_vppm(1e-2, duty))
    point = ber.detector_ber(gamma_db, modulation=modulation, duty=duty, max_bits=200_000, min_errors=400, seed=5)
    assert point.errors >= 400
    assert abs(ber.gap_db(point, modulation, duty)) < 0.3


@pytest.mark.parametrize("modulation, duty, sps", [("ook", 0.5, 4), ("vppm", 0.3, 10)])
def test_receiver_front_end_is_close_to_theory(modulation, duty, sps):
    target = 3e-3
    gamma = theory.gamma_manchester(target) if modulation == "ook" else theory.gamma_vppm(target, duty)
    point = ber.receiver_ber(theory.db(gamma), modulation=modulation, duty=duty, sps=sps, frame_bits=4000,
                             max_bits=60_000, min_errors=10**9, seed=7)
    assert point.bits >= 59_000
    assert point.errors > 60  # expected about 180
    assert abs(ber.gap_db(point, modulation, duty)) < 0.6


def test_receiver_penalty_from_clock_offset_is_small():
    gamma_db = theory.db(theory.gamma_manchester(3e-3))
    point = ber.receiver_ber(gamma_db, frame_bits=8000, max_bits=48_000, min_errors=10**9, seed=9,
                             impairments=ber.Impairments(clock_offset_ppm=200.0))
    assert ber.gap_db(point) < 1.0


def test_plot_is_written(tmp_path):
    points = [ber.BerPoint(g, 10, 1000, theory.ber_manchester(theory.undb(g))) for g in (4.0, 6.0)]
    path = ber.plot_curves({"sim": points}, str(tmp_path / "p.png"), "t",
                           {"theory": ([4.0, 6.0], [points[0].theory, points[1].theory])})
    with open(path, "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_gap_is_minus_infinity_without_errors():
    assert ber.gap_db(ber.BerPoint(12.0, 0, 1000, 1e-5)) == -math.inf
