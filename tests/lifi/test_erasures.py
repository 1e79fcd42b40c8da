"""Soft-output Viterbi reliabilities and RS errors-and-erasures decoding in the coded receive path."""

import math

import numpy as np
import pytest

from protocols.lifi import cc, fec
from sim.lifi import coded_ber, theory, viterbi


def _noisy(rate, frames, n_bits, sigma, seed):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (frames, n_bits)).astype(np.uint8)
    coded = np.array([list(cc.encode(bytearray(row.tolist()), rate)) for row in bits], dtype=np.float32)
    return bits, 2 * coded - 1 + rng.normal(0, sigma, coded.shape).astype(np.float32)


@pytest.mark.parametrize("rate", [(1, 4), (1, 3), (2, 3)])
def test_sova_keeps_the_decisions_and_marks_the_wrong_bits_unreliable(rate):
    bits, soft = _noisy(rate, 40, 200, {(1, 4): 1.25, (1, 3): 1.05, (2, 3): 0.72}[rate], seed=21)
    plain = viterbi.decode(soft, rate, 200)
    decided, reliability = viterbi.decode(soft, rate, 200, reliability=True)
    assert np.array_equal(decided, plain)  # soft output changes nothing in the hard decisions
    assert reliability.shape == decided.shape and np.all(reliability >= 0)
    wrong = decided != bits
    assert 50 < np.count_nonzero(wrong) < wrong.size // 20
    # wrong bits sit at near ties: their reliabilities are far below those of right bits
    assert np.median(reliability[wrong]) < 0.25 * np.median(reliability[~wrong])
    # and ranking bits by reliability finds most errors among the least reliable 20 %
    cutoff = np.quantile(reliability, 0.20)
    assert np.count_nonzero(reliability[wrong] <= cutoff) > 0.8 * np.count_nonzero(wrong)


def test_noiseless_bits_are_all_reliable():
    bits, soft = _noisy((1, 3), 2, 64, 0.0, seed=22)
    decided, reliability = viterbi.decode(soft, (1, 3), 64, reliability=True)
    assert np.array_equal(decided, bits)
    assert np.min(reliability) >= 2.0  # the nearest competitor is several coded bits away


def test_symbol_reliability_is_the_least_sure_bit():
    per_bit = np.array([[5, 1, 7, 9, 2, 2, 8, 3]], dtype=np.float32)
    assert viterbi.symbol_reliability(per_bit).tolist() == [[1, 2]]


def test_fec_maps_reliabilities_through_the_deinterleaver():
    data = bytes(range(40, 54))
    sent = fec.encode_nibbles(data, (15, 7), interleaved=True)
    received = bytearray(sent)
    order = fec.interleave_order(len(sent))
    reliability = [9.0] * len(sent)
    # five wrong symbols in RS block 0 (positions 0..14 before interleaving): beyond its t = 4
    for i, src in enumerate(order):
        if src in (0, 2, 4, 6, 8):
            received[i] ^= 7
            reliability[i] = 0.5
    with pytest.raises(ValueError):
        fec.decode_nibbles(bytearray(received), (15, 7), len(data), interleaved=True)
    out, corrected = fec.decode_nibbles(received, (15, 7), len(data), interleaved=True, reliability=reliability)
    assert bytes(out) == data and corrected == 5
    with pytest.raises(ValueError):  # erasures turned off by policy
        fec.decode_nibbles(received, (15, 7), len(data), interleaved=True, reliability=reliability,
                           max_erasures=0)


def test_gmd_lowers_the_coded_ber_and_matches_the_core_decoder():
    ebn0 = 4.0
    errors_only = coded_ber.CodedLink(14, (15, 7), (1, 4))
    gmd = coded_ber.CodedLink(14, (15, 7), (1, 4), max_erasures=8)
    gamma_db = theory.db(theory.undb(ebn0) * 2.0 * gmd.code_rate)
    plain = errors_only.point(gamma_db, max_bits=150_000, min_errors=10**9, batch=500, seed=5)
    erased = gmd.point(gamma_db, max_bits=150_000, min_errors=10**9, batch=500, seed=5)
    assert plain.bit_errors > 100
    assert erased.bit_errors < 0.75 * plain.bit_errors
    disagree, compared = gmd.check_against_core(gamma_db, 60, seed=6)
    assert compared == 60 and disagree == 0
    assert math.isfinite(erased.ebn0_db)


def test_the_receiver_retries_refused_rs_blocks_with_erasures():
    from protocols.lifi.errors import LifiError
    from protocols.lifi.modes import mode_by_name
    from sim.lifi import demod

    mode = mode_by_name("ook-11.67k")  # RS(15,7) + CC(1/4), the chain coded_ber simulates
    link = coded_ber.CodedLink(56, mode.rs, mode.cc)
    rng = np.random.default_rng(8)
    gamma = theory.undb(theory.db(theory.undb(3.9) * 2.0 * link.code_rate))
    soft = -1.0 + rng.normal(0.0, math.sqrt(1.0 / gamma), (120, link.n_sent)).astype(np.float32)
    bits = viterbi.decode(soft, mode.cc, link.n_bits)
    rescued = 0
    for row in range(len(soft)):
        try:
            plain = demod._rs_decode(bits[row], mode, 56)
        except LifiError:
            plain = None
        try:
            retried = demod._rs_decode(bits[row], mode, 56, soft[row])
        except LifiError:
            retried = None
        if plain is not None:
            assert retried == plain  # the retry only runs when errors-only decoding refused
        elif retried is not None and retried[0] == bytes(56):
            rescued += 1
    assert rescued >= 3
