"""RS(15,k) over GF(16) against reference values computed here from the definitions."""

import random

import pytest

from protocols.lifi import gf16, rs

from . import reference as ref

KS = (2, 4, 7, 11)


def test_field_tables_match_carry_less_multiplication():
    for a in range(16):
        for b in range(16):
            assert gf16.mul(a, b) == ref.gf_mul(a, b)
            if b:
                assert gf16.mul(gf16.div(a, b), b) == a
    # alpha = 2 is primitive: its powers run through all 15 non-zero elements.
    assert sorted(ref.gf_pow(2, i) for i in range(15)) == list(range(1, 16))
    assert gf16.power(7, -1) == gf16.div(1, 7)


@pytest.mark.parametrize("k", KS)
def test_generator_polynomial(k):
    g = list(rs.generator(15 - k))
    assert g == ref.rs_generator(15 - k)
    # its roots are alpha^1 .. alpha^(15-k)
    for i in range(1, 16 - k):
        assert gf16.poly_eval(g, gf16.alpha_power(i)) == 0
    assert gf16.poly_eval(g, gf16.alpha_power(16 - k)) != 0


def test_known_generator_for_rs_15_11():
    # (x + a)(x + a^2)(x + a^3)(x + a^4) with a^4 = a + 1 (a^1..a^10 = 2 4 8 3 6 12 11 5 10 7):
    # x^3: a + a^2 + a^3 + a^4 = a^13; x^2: sum of a^(i+j) over pairs = a^3 + a^4 + a^6 + a^7 = a^6;
    # x^1: a^6 + a^7 + a^8 + a^9 = a^3; x^0: a^10. In the polynomial basis: 13, 12, 8, 7.
    assert list(rs.generator(4)) == [1, 13, 12, 8, 7]


@pytest.mark.parametrize("k", KS)
def test_codewords_are_systematic_and_divisible_by_g(k):
    rng = random.Random(k)
    for _ in range(50):
        data = [rng.randrange(16) for _ in range(k)]
        word = rs.encode_block(data, k)
        assert list(word[:k]) == data
        assert list(word[k:]) == ref.rs_parity(data, k)
        assert ref.poly_mod(list(word), ref.rs_generator(15 - k)) == [0] * (15 - k)


@pytest.mark.parametrize("k", KS)
def test_shortened_block_is_the_tail_of_a_zero_padded_codeword(k):
    for r in range(1, k):
        data = list(range(1, r + 1))
        short = rs.encode_block(data, k)
        assert len(short) == r + 15 - k
        full = rs.encode_block([0] * (k - r) + data, k)
        assert short == full[k - r:]


def test_stream_shortens_only_the_last_block():
    assert rs.encoded_length(14, 7) == 30
    assert rs.encoded_length(12, 7) == 15 + 5 + 8
    syms = bytearray(range(12))
    enc = rs.encode(syms, 7)
    assert enc[:15] == rs.encode_block(syms[:7], 7)
    assert enc[15:] == rs.encode_block(syms[7:], 7)
    data, corrected = rs.decode(enc, 7, 12)
    assert data == syms and corrected == 0


def _corrupt(word, n_errors, rng):
    bad = bytearray(word)
    for pos in rng.sample(range(len(word)), n_errors):
        bad[pos] ^= rng.randrange(1, 16)
    return bad


@pytest.mark.parametrize("k", KS)
def test_corrects_up_to_capacity(k):
    t = (15 - k) // 2
    rng = random.Random(100 + k)
    for trial in range(60):
        r = k if trial % 3 else rng.randrange(1, k + 1)  # also shortened blocks
        word = rs.encode_block([rng.randrange(16) for _ in range(r)], k)
        n_err = rng.randrange(1, t + 1)
        bad = _corrupt(word, n_err, rng)
        assert rs.decode_block(bad, k) == n_err
        assert bad == word


@pytest.mark.parametrize("k", KS)
def test_beyond_capacity_is_detected_or_lands_on_another_codeword(k):
    t = (15 - k) // 2
    rng = random.Random(200 + k)
    detected = 0
    for _ in range(200):
        word = rs.encode_block([rng.randrange(16) for _ in range(k)], k)
        bad = _corrupt(word, t + 1, rng)
        try:
            rs.decode_block(bad, k)
        except rs.RSError:
            detected += 1
            continue
        # never silently hands back something that is not a code word
        assert bad != word
        assert ref.poly_mod(list(bad), ref.rs_generator(15 - k)) == [0] * (15 - k)
    assert detected > (100 if k < 11 else 20)


def test_stream_decode_reports_uncorrectable_block():
    enc = rs.encode(bytearray(range(14)), 7)
    for i in range(20, 25):
        enc[i] ^= 5
    with pytest.raises(rs.RSError):
        rs.decode(enc, 7, 14)


def test_invalid_k():
    with pytest.raises(ValueError):
        rs.encode_block([1], 5)
