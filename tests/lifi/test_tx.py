"""Transmitter: RMT pulse lists, LEDC duty, beacon scheduler."""

import itertools

import pytest

from protocols.lifi import frame, modes, tx
from protocols.lifi.errors import LifiError

RMT_80MHZ = 80_000_000


def _expand(items, ticks_per_chip):
    out = bytearray()
    for level, ticks in items:
        assert ticks % ticks_per_chip == 0
        out += bytes([level]) * (ticks // ticks_per_chip)
    return out


def test_chip_ticks():
    assert tx.chip_ticks("ook-100k", RMT_80MHZ) == 400
    assert tx.chip_ticks("vppm-266.6k", RMT_80MHZ) == 200
    with pytest.raises(LifiError):
        tx.chip_ticks("ook-100k", 1_000_001)


def test_ook_items_reproduce_the_chips():
    chips = frame.build_frame(b"rmt test", "ook-48.89k")
    items = tx.rmt_items(chips, "ook-48.89k", RMT_80MHZ)
    assert _expand(items, 400) == chips
    assert all(a[0] != b[0] for a, b in itertools.pairwise(items))  # levels alternate
    durations, level = tx.rmt_pulses(items)
    assert level == chips[0] and sum(durations) == 400 * len(chips)


def test_long_runs_split_at_the_rmt_limit():
    items = tx.rmt_items(bytearray([1] * 200 + [0]), "ook-100k", RMT_80MHZ)
    assert all(t <= tx.RMT_MAX_TICKS for _, t in items)
    assert sum(t for lv, t in items if lv) == 200 * 400


@pytest.mark.parametrize("dim", [None, 0.1, 0.3, 0.77, 0.9])
def test_vppm_items_carry_the_dimming_level(dim):
    m = modes.mode_by_name("vppm-124.4k")
    chips = frame.build_frame(b"vppm", m)
    items = tx.rmt_items(chips, m, RMT_80MHZ, dim)
    total = sum(t for _, t in items)
    on = sum(t for lv, t in items if lv)
    assert total == 200 * len(chips)
    expected = 0.5 if dim is None else dim
    assert abs(on / total - expected) <= 0.0025  # 0.5 % steps at 80 MHz
    w = tx.vppm_pulse_ticks(m, RMT_80MHZ, dim)
    # first chip is a 1 of the FLP: pulse at the end of the symbol
    assert items[0] == (0, 200 - w)


def test_ledc_duty():
    assert tx.ledc_duty(0.5, 10) == 512
    assert tx.ledc_duty(1.0, 16) == 65535
    assert tx.ledc_duty(0.0) == 0
    with pytest.raises(LifiError):
        tx.ledc_duty(1.2)


def test_beacon_scheduler_period_and_messages():
    sent = []

    def source(now):
        sent.append(now)
        return b"B" + bytes([now // 250 % 256])

    s = tx.BeaconScheduler("ook-100k", period_ms=250, source=source, max_messages=2)
    assert frame.parse_chips(s.poll(0), "ook-100k") == b"B\x00"
    assert s.poll(100) is None
    for text in (b"one", b"two", b"three"):
        s.queue_message(text)
    assert s.stats["messages_dropped"] == 1 and s.pending_messages == 2
    assert frame.parse_chips(s.poll(120), "ook-100k") == b"two"  # oldest dropped
    assert frame.parse_chips(s.poll(250), "ook-100k") == b"B\x01"  # beacon first when due
    assert frame.parse_chips(s.poll(260), "ook-100k") == b"three"
    assert s.poll(1100) is not None  # 500 and 750 missed: skipped, not sent in a burst
    assert s.stats["beacons_late"] == 2 and s.stats["beacons_sent"] == 3
    assert s.poll(1200) is None and s.poll(1350) is not None
    assert sent == [0, 250, 1100, 1350]


def test_scheduler_keeps_ook_dimming_across_frames():
    s = tx.BeaconScheduler("ook-100k", period_ms=10, dim=0.8, source=lambda now: b"x" * 20)
    chips = bytes(s.poll(0)) + bytes(s.poll(10))
    assert abs(sum(chips) / len(chips) - 0.8) < 0.002
    assert frame.parse_frame(chips, "ook-100k").payload == b"x" * 20


def test_scheduler_rejects_bad_period_and_oversized_messages():
    with pytest.raises(LifiError):
        tx.BeaconScheduler("ook-100k", period_ms=0)
    s = tx.BeaconScheduler("vppm-124.4k", max_payload=16)
    with pytest.raises(LifiError):
        s.queue_message(bytes(17))
    assert s.stats["messages_refused"] == 1 and s.pending_messages == 0
    s.queue_message(bytes(16))
    assert frame.parse_chips(s.poll(0), "vppm-124.4k") == bytes(16)
