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


# --- errors and erasures ------------------------------------------------------------------------------

def _errata(word, n_errors, n_erasures, rng):
    """A received word with n_erasures positions overwritten by arbitrary values (possibly the right
    one, as a demodulator's unsure guess can be) and n_errors other positions made wrong."""
    bad = bytearray(word)
    positions = rng.sample(range(len(word)), n_errors + n_erasures)
    erased = positions[:n_erasures]
    for pos in erased:
        bad[pos] = rng.randrange(16)
    for pos in positions[n_erasures:]:
        bad[pos] ^= rng.randrange(1, 16)
    return bad, erased


@pytest.mark.parametrize("k", KS)
def test_corrects_every_errors_and_erasures_pair_within_capacity(k):
    n_par = 15 - k
    rng = random.Random(300 + k)
    for f in range(n_par + 1):
        for e in range((n_par - f) // 2 + 1):
            for trial in range(6):
                r = k if trial % 2 else rng.randrange(max(1, e + f - n_par), k + 1)  # shortened too
                word = rs.encode_block([rng.randrange(16) for _ in range(r)], k)
                bad, erased = _errata(word, e, f, rng)
                wrong = sum(1 for a, b in zip(bad, word) if a != b)
                assert rs.decode_block(bad, k, erased) == wrong, (e, f)
                assert bad == word


def _all_codewords_k2():
    return [[a, b] + ref.rs_parity([a, b], 2) for a in range(16) for b in range(16)]


def test_erasure_decoding_finds_the_nearest_codeword_by_exhaustive_search():
    # RS(15,2) has 256 code words, built here from the definition (reference parity): the decoder's
    # answer must be the unique one closest to the received word on the positions not erased.
    codewords = _all_codewords_k2()
    rng = random.Random(7)
    checked = 0
    for _ in range(300):
        received = [rng.randrange(16) for _ in range(15)]
        erased = rng.sample(range(15), rng.randrange(0, 14))
        kept = [i for i in range(15) if i not in erased]
        distances = sorted((sum(1 for i in kept if c[i] != received[i]), n) for n, c in enumerate(codewords))
        d, nearest = distances[0]
        word = bytearray(received)
        if 2 * d + len(erased) <= 13:
            rs.decode_block(word, 2, erased)
            assert list(word) == codewords[nearest]
            checked += 1
    assert checked > 15


@pytest.mark.parametrize("k", KS)
def test_beyond_capacity_with_erasures_is_detected_or_miscorrection_counted(k):
    n_par = 15 - k
    rng = random.Random(400 + k)
    detected = miscorrected = 0
    for trial in range(200):
        f = rng.randrange(0, n_par + 1)
        e = (n_par - f) // 2 + 1  # one error too many for these erasures
        if e + f > 15:
            f -= 1
        word = rs.encode_block([rng.randrange(16) for _ in range(k)], k)
        bad, erased = _errata(word, e, f, rng)
        try:
            rs.decode_block(bad, k, erased)
        except rs.RSError:
            detected += 1
            continue
        # never hands back a non-codeword; a wrong code word is a miscorrection, counted
        assert ref.poly_mod(list(bad), ref.rs_generator(n_par)) == [0] * n_par
        miscorrected += bad != word
    assert detected + miscorrected == 200
    assert detected > miscorrected


def test_gmd_erases_the_least_reliable_symbols_after_errors_only_fails():
    rng = random.Random(9)
    word = rs.encode_block([rng.randrange(16) for _ in range(7)], 7)
    bad = bytearray(word)
    for pos in (1, 5, 9, 13, 14):  # 5 errors: beyond t = 4
        bad[pos] ^= 6
    with pytest.raises(rs.RSError):
        rs.decode_block(bytearray(bad), 7)
    reliability = [9.0] * 15
    for pos in (1, 5, 9, 13):
        reliability[pos] = 0.5
    # two erasures leave 3 errors: 2 * 3 + 2 = 8 parity symbols, just enough
    assert rs.decode_block_gmd(bad, 7, reliability) == (5, 2)
    assert bad == word
    # the stream decoder retries failing blocks with the same per-symbol reliabilities
    syms = bytearray(rng.randrange(16) for _ in range(14))
    enc = rs.encode(syms, 7)
    rel = [9.0] * len(enc)
    for pos in (15, 17, 19, 21, 23):
        enc[pos] ^= 3
        rel[pos] = 1.0
    with pytest.raises(rs.RSError):
        rs.decode(enc, 7, 14)
    data, corrected = rs.decode(enc, 7, 14, reliability=rel)
    assert data == syms and corrected == 5


def test_gmd_gives_up_and_restores_the_word():
    word = rs.encode_block(list(range(7)), 7)
    bad = bytearray(word)
    for pos in range(9):
        bad[pos] ^= 1
    before = bytearray(bad)
    with pytest.raises(rs.RSError):
        rs.decode_block_gmd(bad, 7, [1.0] * 15, max_erasures=4)
    assert bad == before


def test_bad_erasure_lists_are_refused():
    word = rs.encode_block([1, 2, 3, 4, 5, 6, 7], 7)
    word[0] ^= 1
    with pytest.raises(ValueError):
        rs.decode_block(bytearray(word), 7, [15])
    with pytest.raises(ValueError):
        rs.decode_block(bytearray(word), 7, [2, 2])
    with pytest.raises(ValueError):
        rs.decode_block(bytearray(word), 7, list(range(9)))
