"""Manchester and 4B6B line codes: bit-exact round trips, the standard's table, soft values."""

import random

import pytest

from protocols.lifi import linecode
from protocols.lifi.errors import LineCodeError


def test_manchester_maps_each_bit_to_one_on_chip():
    assert linecode.manchester_encode([1, 0, 1, 1, 0]) == bytearray([1, 0, 0, 1, 1, 0, 1, 0, 0, 1])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 1000])
def test_manchester_round_trip(n):
    rng = random.Random(n)
    bits = bytearray(rng.getrandbits(1) for _ in range(n))
    chips = linecode.manchester_encode(bits)
    assert len(chips) == 2 * n
    assert sum(chips) == n  # exactly half the chips on: DC balanced
    assert linecode.manchester_decode(chips, n) == bits
    assert linecode.manchester_soft(chips, n) == bytearray(255 if b else 0 for b in bits)


def test_manchester_soft_values_follow_light_levels():
    soft = linecode.manchester_soft([0.9, 0.1, 0.5, 0.5, 0.2, 0.7], 3)
    assert soft[0] > 200 and soft[1] == 128 and soft[2] < 80


def test_manchester_decode_with_offset_and_short_input():
    chips = bytearray([7, 1, 0, 0, 1])
    assert linecode.manchester_decode(chips, 2, start=1) == bytearray([1, 0])
    with pytest.raises(LineCodeError):
        linecode.manchester_decode(chips, 3, start=1)


def test_4b6b_table_is_the_standards():
    # IEEE 802.15.7 PHY I 4B6B table, nibble 0..F, first-sent chip on the left.
    expected = ["001110", "001101", "010011", "010110", "010101", "100011", "100110", "100101",
                "011001", "011010", "011100", "110001", "110010", "101001", "101010", "101100"]
    for nib, word in enumerate(expected):
        assert "".join(str(c) for c in linecode.encode_4b6b([nib])) == word
    assert len(set(linecode.TABLE_4B6B)) == 16
    assert all(w.bit_count() == 3 for w in linecode.TABLE_4B6B)  # DC balanced per symbol


def test_4b6b_round_trip_all_nibbles_and_random_stream():
    nibs = bytearray(range(16)) + bytearray(random.Random(4).getrandbits(4) for _ in range(500))
    chips = linecode.encode_4b6b(nibs)
    assert len(chips) == 6 * len(nibs)
    assert sum(chips) == 3 * len(nibs)
    assert linecode.decode_4b6b(chips, len(nibs)) == nibs


def test_4b6b_decodes_nearest_word_and_counts_repairs():
    chips = linecode.encode_4b6b([0xA, 0x3])
    chips[6] ^= 1
    chips[7] ^= 1  # 010110 -> 100110 = 0x6, still a valid word: decoded as such, not counted
    stats = {}
    assert linecode.decode_4b6b(chips, 2, stats=stats) == bytearray([0xA, 0x6])
    assert "linecode_corrected" not in stats
    chips = linecode.encode_4b6b([0xA])
    chips[0] ^= 1  # weight 4: not a code word
    linecode.decode_4b6b(chips, 1, stats=stats)
    assert stats["linecode_corrected"] == 1


def test_4b6b_short_input():
    with pytest.raises(LineCodeError):
        linecode.decode_4b6b(bytearray(11), 2)
