"""K=7 convolutional code: encoder against the generator taps, puncturing, Viterbi decoding."""

import random

import pytest

from protocols.lifi import cc

from . import reference as ref

RATES = [(1, 4), (1, 3), (2, 3)]


def test_impulse_response_is_the_generators():
    # A single 1 walks through the register: step j outputs bit (6 - j) of each generator.
    out = list(cc.encode([1], (1, 3)))
    g0, g1, g2 = [int(c) for c in "1011011"], [int(c) for c in "1111001"], [int(c) for c in "1110101"]
    assert out == [b for j in range(7) for b in (g0[j], g1[j], g2[j])]


def test_known_vector_by_hand():
    # u = 1 1 then tail; step 0: taps 0 of 133/171/165 -> 1 1 1; step 1: u0^u1 on tap0, tap1 ->
    # g0 (taps 0,2,3,5,6): 1^0=1 ; g1 (taps 0,1,2,3,6): 1^1=0 ; g2 (taps 0,1,2,4,6): 1^1=0
    assert list(cc.encode([1, 1], (1, 3)))[:6] == [1, 1, 1, 1, 0, 0]


def test_mother_code_matches_reference():
    rng = random.Random(1)
    bits = [rng.getrandbits(1) for _ in range(200)]
    assert list(cc.encode(bits, (1, 3))) == ref.cc_encode_rate_third(bits)


def test_puncturing_patterns():
    rng = random.Random(2)
    bits = [rng.getrandbits(1) for _ in range(41)]
    mother = ref.cc_encode_rate_third(bits)
    steps = [mother[3 * t:3 * t + 3] for t in range(len(bits) + 6)]
    quarter = [b for g0, g1, _ in steps for b in (g0, g0, g1, g1)]
    two_thirds = [b for t, (g0, g1, _) in enumerate(steps) for b in ((g1,) if t % 2 else (g0, g1))]
    assert list(cc.encode(bits, (1, 4))) == quarter
    assert list(cc.encode(bits, (2, 3))) == two_thirds
    for rate in RATES:
        assert len(cc.encode(bits, rate)) == cc.encoded_length(len(bits), rate)
    # rate 2/3: 3 coded bits per 2 input bits (tail included)
    assert cc.encoded_length(100, (2, 3)) * 2 == (100 + 6) * 3


def _hard(bits):
    return bytearray(255 if b else 0 for b in bits)


@pytest.mark.parametrize("rate", RATES)
def test_viterbi_round_trip(rate):
    rng = random.Random(rate[1])
    bits = bytearray(rng.getrandbits(1) for _ in range(300))
    assert cc.decode(_hard(cc.encode(bits, rate)), rate, len(bits)) == bits


@pytest.mark.parametrize("rate, n_errors", [((1, 4), 12), ((1, 3), 10), ((2, 3), 4)])
def test_viterbi_corrects_spread_errors(rate, n_errors):
    rng = random.Random(7)
    bits = bytearray(rng.getrandbits(1) for _ in range(400))
    coded = _hard(cc.encode(bits, rate))
    spacing = len(coded) // n_errors
    for i in range(n_errors):
        coded[i * spacing + spacing // 2] ^= 255
    assert cc.decode(coded, rate, len(bits)) == bits


def test_soft_decoding_uses_reliability():
    # A flipped but unreliable value is outvoted where hard decisions could not tell.
    bits = bytearray([1, 0, 1, 1, 0, 0, 1, 0] * 8)
    coded = _hard(cc.encode(bits, (2, 3)))
    for i in range(0, len(coded), 5):
        coded[i] = 110 if coded[i] else 145  # wrong side of 128, low confidence
    assert cc.decode(coded, (2, 3), len(bits)) == bits


def test_erasures_are_neutral():
    bits = bytearray(random.Random(3).getrandbits(1) for _ in range(100))
    coded = _hard(cc.encode(bits, (1, 3)))
    for i in range(0, len(coded), 4):
        coded[i] = 128
    assert cc.decode(coded, (1, 3), len(bits)) == bits


def test_bad_rate_and_short_input():
    with pytest.raises(ValueError):
        cc.encode([1], (1, 2))
    with pytest.raises(ValueError):
        cc.decode(bytearray(10), (1, 3), 10)
