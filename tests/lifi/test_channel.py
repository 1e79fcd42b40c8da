"""Optical channel simulator: Lambertian geometry, LED low-pass, clock offset, noise, ambient, ADC."""

import math

import numpy as np
import pytest

from sim.lifi import channel


def test_lambertian_gain_matches_the_formula_worked_by_hand():
    geometry = channel.Geometry(mast_height_m=8.0, receiver_height_m=1.0, horizontal_offset_m=3.0,
                                semi_angle_deg=60.0, receiver_area_m2=1e-4, fov_deg=70.0)
    # semi-angle 60 deg -> m = 1; D^2 = 49 + 9; cos(phi) = cos(psi) = 7 / sqrt(58)
    cos = 7.0 / math.sqrt(58.0)
    expected = 2.0 * 1e-4 / (2.0 * math.pi * 58.0) * cos * cos
    assert channel.lambertian_order(60.0) == pytest.approx(1.0)
    assert channel.los_gain(geometry) == pytest.approx(expected, rel=1e-12)


def test_gain_falls_with_offset_and_vanishes_outside_the_field_of_view():
    gains = [channel.los_gain(channel.Geometry(horizontal_offset_m=d, fov_deg=45.0)) for d in (0, 2, 4, 6.9, 7.1)]
    assert gains[0] > gains[1] > gains[2] > gains[3] > 0.0
    assert gains[4] == 0.0  # atan(7.1 / 7) > 45 degrees


def test_narrow_beam_and_concentrator_raise_the_on_axis_gain():
    wide = channel.los_gain(channel.Geometry(semi_angle_deg=60.0))
    narrow = channel.los_gain(channel.Geometry(semi_angle_deg=20.0))
    concentrated = channel.los_gain(channel.Geometry(concentrator_index=1.5, fov_deg=30.0))
    assert narrow > 5 * wide
    assert concentrated == pytest.approx(wide * 1.5**2 / math.sin(math.radians(30.0)) ** 2)


def test_lamp_below_receiver_is_refused():
    with pytest.raises(channel.ChannelError):
        channel.los_gain(channel.Geometry(mast_height_m=1.0, receiver_height_m=1.5))


def test_led_lowpass_step_reaches_63_percent_after_one_time_constant():
    fs, fc = 10e6, 100e3
    step = np.concatenate([np.zeros(100), np.ones(2000)])
    out = channel.led_lowpass(step, fc, fs)
    tau_samples = fs / (2 * math.pi * fc)
    # the discrete filter takes the step at its first sample: after k more samples it is at 1 - a^(k+1)
    assert out[100 + round(tau_samples) - 1] == pytest.approx(1 - math.exp(-1), abs=0.01)
    assert out[-1] == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(out[:100], 0.0, atol=1e-12)


def test_long_lowpass_uses_fft_path_and_agrees_with_recursion():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 5000)
    fs, fc = 1e6, 500.0  # thousands of taps
    a = math.exp(-2 * math.pi * fc / fs)
    expected = np.empty_like(x)
    y = x[0]
    for i, v in enumerate(x):
        y = a * y + (1 - a) * v
        expected[i] = y
    assert np.allclose(channel.led_lowpass(x, fc, fs), expected, atol=1e-6)


def test_clock_offset_stretches_the_capture():
    wave = np.repeat(np.arange(25_000.0), 4)
    fast = channel.resample_clock(wave, 200.0)
    slow = channel.resample_clock(wave, -200.0)
    assert len(fast) > len(wave) > len(slow)
    assert len(fast) - len(wave) == pytest.approx(len(wave) * 200e-6, abs=2)
    # sample n of the fast ADC sees transmitter position n / (1 + 2e-4)
    n = 99_999
    assert fast[n] == wave[math.floor(n / (1 + 2e-4))]


def test_mains_interference_power_and_harmonics():
    mains = channel.MainsInterference.with_ac_power(2.0, harmonics=5)
    t = np.arange(200_000) / 200_000.0  # one second
    wave = mains.waveform(t)
    assert np.var(wave) == pytest.approx(2.0, rel=0.01)
    spectrum = np.abs(np.fft.rfft(wave - wave.mean())) / len(t) * 2
    assert spectrum[100] == pytest.approx(mains.amplitudes_w[0], rel=0.01)
    assert spectrum[500] == pytest.approx(mains.amplitudes_w[4], rel=0.01)
    assert spectrum[50] < 1e-9 and spectrum[600] < 1e-9


def test_noise_level_follows_shot_and_thermal_formulas():
    config = channel.ChannelConfig()
    fs = 800e3
    thermal_only = channel.noise_rms_a(config, 0.0, fs)
    assert thermal_only == pytest.approx(
        math.sqrt(4 * channel.BOLTZMANN_J_PER_K * 300.0 * fs / 2 / config.receiver.transimpedance_ohm))
    with_shot = channel.noise_rms_a(config, 1e-3, fs)
    assert with_shot**2 - thermal_only**2 == pytest.approx(2 * channel.ELECTRON_CHARGE_C * 1e-3 * fs / 2)


def test_propagate_night_capture_is_in_range_and_daylight_saturates():
    rng = np.random.default_rng(1)
    light = np.tile(np.repeat([1.0, 0.0], 4), 500)
    night = channel.propagate(light, 800e3, channel.ChannelConfig(), rng)
    assert night.samples.dtype == np.float32
    assert 0.0 <= night.samples.min() and night.samples.max() < 1.0
    assert night.clipped_high_fraction == 0.0
    # the two light levels are told apart: the swing dwarfs the noise at night
    assert night.signal_swing_a > 100 * night.noise_rms_a
    day = channel.propagate(light, 800e3, channel.ChannelConfig(ambient_lux=channel.AMBIENT_DAYLIGHT_LUX), rng)
    assert day.clipped_high_fraction > 0.99
