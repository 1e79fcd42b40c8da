"""CPython fast-path receiver: frames recovered through the optical channel simulator with impairments."""

import numpy as np
import pytest

from protocols.lifi import dimming, frame
from protocols.lifi.modes import MODES, mode_by_name
from sim.lifi import channel, demod

SEED = 20261121


def light_of(payloads, mode, sps, dim=None, idle=160):
    """Transmitted light (0..1 per sample) of frames separated by idle, as the luminaire sends them."""
    mode = mode_by_name(mode)
    comp = dimming.Compensator(dim) if dim is not None and mode.modulation == "ook" else None
    chips = bytearray(dimming.idle_chips(idle, mode, dim, comp))
    for payload in payloads:
        chips += frame.build_frame(payload, mode, dim, comp=comp)
        chips += dimming.idle_chips(idle, mode, dim, comp)
    return np.frombuffer(bytes(dimming.light_samples(chips, mode, dim, sps)), np.uint8).astype(np.float64)


def payloads_for(count, size, seed=SEED):
    rng = np.random.default_rng(seed)
    return [bytes(rng.integers(0, 256, size, dtype=np.uint8)) for _ in range(count)]


def street_config(**changes):
    """A receiver 1 m above ground, 2 m off the axis of an 8 m mast, at night, gain set for it."""
    base = {"geometry": channel.Geometry(horizontal_offset_m=2.0), "led_peak_power_w": 20.0,
                "receiver": channel.Receiver(transimpedance_ohm=100_000.0), "ambient_lux": 5.0}
    base.update(changes)
    return channel.ChannelConfig(**base)


def received(payloads, mode, sps, config, dim=None, seed=SEED):
    mode = mode_by_name(mode)
    light = light_of(payloads, mode, sps, dim)
    rng = np.random.default_rng(seed)
    return channel.propagate(light, mode.optical_clock_hz * sps, config, rng, clock_phase=0.37)


@pytest.mark.parametrize("mode", [m.name for m in MODES])
@pytest.mark.parametrize("dim", [None, 0.3, 0.85])
def test_every_mode_round_trips_through_light_samples(mode, dim):
    payloads = payloads_for(2, 33)
    sps = 4 if mode.startswith("ook") else 20  # VPPM pulse widths need a finer grid
    result = demod.demodulate(light_of(payloads, mode, sps, dim), mode, sps)
    assert [f.payload for f in result.frames] == payloads
    assert all(f.mode == mode for f in result.frames)
    assert result.counts.get("frames_ok") == 2 and not result.saturated


def test_frames_recovered_through_a_noisy_night_street():
    payloads = payloads_for(3, 120)
    config = street_config(extra_noise_a_rms=1.4e-6)
    capture = received(payloads, "ook-100k", 4, config)
    swing_to_noise = capture.signal_swing_a / capture.noise_rms_a
    assert 3.0 < swing_to_noise < 6.0  # a genuinely noisy capture (about 15 dB per chip), not a clean one
    result = demod.demodulate(capture.samples, "ook-100k", 4)
    assert [f.payload for f in result.frames] == payloads
    assert all(0.0 < f.snr_db < 40.0 for f in result.frames)


@pytest.mark.parametrize("offset_ppm", [200.0, -200.0])
def test_clock_offset_over_a_1000_byte_frame(offset_ppm):
    payloads = payloads_for(1, 1000)
    config = street_config(receiver=channel.Receiver(transimpedance_ohm=100_000.0, clock_offset_ppm=offset_ppm),
                           extra_noise_a_rms=1.0e-7)
    capture = received(payloads, "ook-100k", 4, config)
    # 200 ppm over ~16,500 chips slides the chip grid by more than three chips: tracking is required
    result = demod.demodulate(capture.samples, "ook-100k", 4)
    assert [f.payload for f in result.frames] == payloads


def test_mains_flicker_20_db_above_the_signal_and_daylight_ambient():
    payloads = payloads_for(2, 200)
    geometry = channel.Geometry(horizontal_offset_m=2.0)
    swing_w = 20.0 * channel.los_gain(geometry)
    mains = channel.MainsInterference.with_ac_power(100.0 * swing_w**2 / 4.0)  # Manchester AC power: swing^2/4
    config = street_config(interference=mains, ambient_lux=200.0,
                           receiver=channel.Receiver(transimpedance_ohm=10_000.0))
    capture = received(payloads, "ook-100k", 4, config)
    assert capture.clipped_high_fraction == 0.0
    result = demod.demodulate(capture.samples, "ook-100k", 4)
    assert [f.payload for f in result.frames] == payloads


def test_led_lowpass_and_adc_quantisation_with_coded_mode():
    payloads = payloads_for(2, 40)
    config = street_config(led_cutoff_hz=300e3, receiver=channel.Receiver(transimpedance_ohm=20_000.0, adc_bits=8),
                           extra_noise_a_rms=3.0e-7)
    capture = received(payloads, "ook-11.67k", 4, config)
    result = demod.demodulate(capture.samples, "ook-11.67k", 4)
    assert [f.payload for f in result.frames] == payloads


def test_dimmed_vppm_through_the_channel_with_estimated_duty():
    payloads = payloads_for(2, 60)
    config = street_config(receiver=channel.Receiver(transimpedance_ohm=100_000.0, clock_offset_ppm=-150.0),
                           extra_noise_a_rms=1.0e-7)
    capture = received(payloads, "vppm-124.4k", 20, config, dim=0.25)
    result = demod.demodulate(capture.samples, "vppm-124.4k", 20)
    assert result.duty == pytest.approx(0.25, abs=0.02)
    assert [f.payload for f in result.frames] == payloads


def test_dimmed_ook_through_the_channel():
    payloads = payloads_for(2, 60)
    capture = received(payloads, "ook-48.89k", 4, street_config(extra_noise_a_rms=1.0e-7), dim=0.15)
    result = demod.demodulate(capture.samples, "ook-48.89k", 4)
    assert [f.payload for f in result.frames] == payloads
    assert all(f.dimmed for f in result.frames)


def test_daylight_saturation_is_reported_not_decoded():
    payloads = payloads_for(1, 50)
    config = street_config(ambient_lux=channel.AMBIENT_DAYLIGHT_LUX)
    capture = received(payloads, "ook-100k", 4, config)
    result = demod.demodulate(capture.samples, "ook-100k", 4)
    assert result.frames == []
    assert result.saturated
    assert result.clipped_fraction > 0.9


def test_partly_clipped_capture_still_decodes_and_is_not_flagged():
    payloads = payloads_for(1, 50)
    light = light_of(payloads, "ook-100k", 4)
    clipped = np.minimum(light * 1.3 + 0.05, 1.0)  # ON chips clipped at full scale
    result = demod.demodulate(clipped, "ook-100k", 4)
    assert [f.payload for f in result.frames] == payloads
    assert result.clipped_fraction > 0.3 and not result.saturated


def test_noise_and_random_light_give_no_frame():
    rng = np.random.default_rng(SEED)
    for capture in (rng.normal(0.5, 0.1, 400_000), rng.integers(0, 2, 400_000).astype(float)):
        result = demod.demodulate(capture, "ook-100k", 4)
        assert result.frames == []
        assert result.counts.get("frames_ok", 0) == 0


def test_corrupted_payload_is_refused_by_the_crc_and_counted():
    payloads = payloads_for(2, 64)
    light = light_of(payloads, "ook-100k", 4)
    tdp_end = (160 + frame.FLP_CHIPS + frame.TDP_BITS) * 4
    phr_chips = 2 * 4 * 118  # header mode ook-11.67k: 6 bytes -> 28 RS symbols -> 118 steps of rate 1/4
    psdu_start = tdp_end + phr_chips * 4
    damaged = light.copy()
    damaged[psdu_start + 400:psdu_start + 400 + 8 * 4] = 1.0 - damaged[psdu_start + 400:psdu_start + 400 + 8 * 4]
    result = demod.demodulate(damaged, "ook-100k", 4)
    assert [f.payload for f in result.frames] == payloads[1:]
    assert result.counts.get("PayloadCRCError") == 1


def test_bad_arguments_are_typed_errors():
    with pytest.raises(demod.DemodError):
        demod.demodulate(np.zeros(100), "ook-100k", 1)
    with pytest.raises(demod.DemodError):
        demod.demodulate(np.array([0.0, np.nan] * 100), "ook-100k", 4)
