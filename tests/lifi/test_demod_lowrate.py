"""Low-rate receiver profile (protocols.lifi.rx_lowrate) under CPython and the MicroPython unix port."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from sim.board_process import find_micropython

from protocols.lifi import beacon, dimming, frame, rx_lowrate
from protocols.lifi.errors import LifiError
from protocols.lifi.modes import mode_by_name

REPO = Path(__file__).resolve().parents[2]
MICROPYTHON = find_micropython()


def adc_codes(payloads, mode="ook-100k", sps=4, offset_ppm=0.0, noise=40.0, seed=0, damage=None):
    mode = mode_by_name(mode)
    chips = bytearray(dimming.idle_chips(100, mode))
    for payload in payloads:
        chips += frame.build_frame(payload, mode)
        chips += dimming.idle_chips(100, mode)
    if damage is not None:
        chips[damage] ^= 1
        chips[damage + 1] ^= 1  # an inverted Manchester pair: a clean bit error
    light = np.frombuffer(bytes(dimming.light_samples(chips, mode, None, sps)), np.uint8).astype(float)
    eps = offset_ppm * 1e-6
    index = np.floor(0.4 + np.arange(int(len(light) * (1 + eps)) - 1) / (1 + eps)).astype(int)
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(250 + 700 * light[index] + rng.normal(0, noise, len(index))), 0, 4095).astype(int)


def receive(codes, **options):
    got = []
    rx = rx_lowrate.LowRateReceiver(on_frame=got.append, **options)
    for i in range(0, len(codes), 300):
        rx.feed(codes[i:i + 300].tolist())
    return got, rx.stats


@pytest.mark.parametrize("offset_ppm", [-400.0, 0.0, 400.0])
def test_beacons_received_with_clock_offset_and_noise(offset_ppm):
    signer = beacon.BeaconSigner("a4cf12f00d01", b"key" * 8)
    sent = [signer.next_beacon() for _ in range(4)]
    got, stats = receive(adc_codes(sent, offset_ppm=offset_ppm, noise=60.0, seed=3))
    assert got == sent
    assert stats["frames_ok"] == 4 and stats["crc_errors"] == 0


def test_coded_mode_corrects_what_the_uncoded_one_refuses():
    payload = b"message for lamp 12"
    header_and_tdp = frame.FLP_CHIPS + 100 + frame.TDP_BITS + 2 * 4 * 118
    got, stats = receive(adc_codes([payload], damage=header_and_tdp + 40))
    assert got == [] and stats["crc_errors"] == 1
    codes = adc_codes([payload], mode="ook-24.44k", damage=header_and_tdp + 40)
    got, stats = receive(codes, mode="ook-24.44k")
    assert got == [payload]


def test_frame_longer_than_the_buffer_is_dropped_and_counted():
    got, stats = receive(adc_codes([bytes(100)]), max_payload=32)
    assert got == [] and stats["too_long"] == 1


def test_vppm_is_not_a_low_rate_profile():
    with pytest.raises(LifiError):
        rx_lowrate.LowRateReceiver(mode="vppm-266.6k")


@pytest.mark.micropython
def test_low_rate_receiver_under_micropython():
    # 192 KB: the check also builds the transmitted light in memory; the receiver itself holds one frame
    result = subprocess.run([MICROPYTHON, "-X", "heapsize=192K", str(REPO / "tests/lifi/mpy_lowrate_check.py"),
                             str(REPO)], capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "authenticated" in result.stdout and result.stdout.strip().endswith("ALL OK")
