"""Soft-decision Viterbi against hard decisions, pinned (known) bits, decoder feedback between the RS
blocks and the Viterbi decoder, and the coding-gain interval."""

import math

import numpy as np
import pytest

from protocols.lifi import cc, fec
from protocols.lifi.modes import mode_by_name
from sim.lifi import coded_ber, demod, theory, viterbi


def _coded(bits, rate):
    return np.array(list(cc.encode(bytearray(bits.tolist()), rate)), dtype=np.float32)


@pytest.mark.parametrize("rate", cc.RATES)
def test_noiseless_codeword_decodes_exactly_with_and_without_pins(rate):
    bits = np.random.default_rng(31).integers(0, 2, 90).astype(np.uint8)
    soft = 2 * _coded(bits, rate) - 1
    assert np.array_equal(viterbi.decode(soft, rate, 90), bits)
    known = np.where(np.arange(90) % 3 == 0, bits, -1).astype(np.int8)
    assert np.array_equal(viterbi.decode(soft, rate, 90, known=known), bits)


def test_soft_decisions_correct_a_burst_that_hard_decisions_cannot():
    rate = (1, 3)
    bits = np.random.default_rng(5).integers(0, 2, 60).astype(np.uint8)
    soft = 2 * _coded(bits, rate) - 1
    soft[40:52] *= -0.2  # twelve consecutive coded bits flipped, each only weakly
    assert np.array_equal(viterbi.decode(soft, rate, 60), bits)
    # the same values sliced to +-1 (a hard-decision receiver): twelve errors in one span are too many
    hard = viterbi.decode(np.sign(soft), rate, 60)
    assert not np.array_equal(hard, bits)


def test_pinned_bits_come_out_as_given_and_repair_their_neighbours():
    rate = (1, 4)
    rng = np.random.default_rng(8)
    bits = rng.integers(0, 2, (60, 120)).astype(np.uint8)
    coded = np.array([_coded(row, rate) for row in bits])
    soft = 2 * coded - 1 + rng.normal(0, 1.9, coded.shape).astype(np.float32)
    plain = viterbi.decode(soft, rate, 120)
    assert np.count_nonzero(plain != bits) > 30  # the channel is bad enough to leave errors
    known = np.full(bits.shape, -1, dtype=np.int8)
    known[:, :80] = bits[:, :80]  # the first two thirds are known (decoded RS blocks)
    pinned = viterbi.decode(soft, rate, 120, known=known)
    assert np.array_equal(pinned[:, :80], bits[:, :80])
    assert np.count_nonzero(pinned[:, 80:] != bits[:, 80:]) < np.count_nonzero(plain[:, 80:] != bits[:, 80:])
    # a pin wins even against strong evidence, and the soft output marks pinned bits as sure
    wrong = known.copy()
    wrong[0, 10] ^= 1
    out, reliability = viterbi.decode(soft[:1], rate, 120, reliability=True, known=wrong[:1])
    assert out[0, 10] == wrong[0, 10]
    assert reliability[0, :80].min() > 1e3
    with pytest.raises(ValueError):
        viterbi.decode(soft, rate, 120, known=known[:, :100])


def test_decoder_feedback_lowers_the_coded_ber():
    single = coded_ber.CodedLink(56, (15, 7), (1, 4), max_erasures=8)
    feedback = coded_ber.CodedLink(56, (15, 7), (1, 4), max_erasures=8, feedback=1)
    gamma_db = theory.db(theory.undb(3.9) * 2.0 * single.code_rate)
    before = single.point(gamma_db, max_bits=448 * 600, min_errors=10**9, batch=600, seed=4)
    after = feedback.point(gamma_db, max_bits=448 * 600, min_errors=10**9, batch=600, seed=4)
    assert before.frame_errors > 25
    assert after.frame_errors < 0.5 * before.frame_errors
    assert after.frame_error_squares > 0 and math.isfinite(after.ber_relative_se)


def test_the_receiver_feedback_rescues_frames_and_agrees_with_the_model():
    mode = mode_by_name("ook-11.67k")
    link = coded_ber.CodedLink(56, mode.rs, mode.cc, max_erasures=8, feedback=1)
    rng = np.random.default_rng(9)
    soft = link._soft(theory.undb(theory.db(theory.undb(3.8) * 2.0 * link.code_rate)), 100, rng)
    model_errors = link._errors(soft, 1).sum(axis=1)
    bits = viterbi.decode(soft, mode.cc, link.n_bits)
    rescued = disagree = 0
    for row in range(len(soft)):
        try:
            demod._rs_stream(bits[row], mode, 56)
            single_ok = True
        except fec.FECError:
            single_ok = False
        try:
            data, _ = demod._rs_decode(bits[row], mode, 56, soft[row])
            ok = data == bytes(56)
        except fec.FECError:
            ok = False
        rescued += ok and not single_ok
        disagree += ok != (model_errors[row] == 0)
    assert rescued >= 10
    assert disagree <= 2  # the receiver re-decodes blocks the model keeps: rare, small differences


def test_feedback_bits_are_the_decoded_blocks_bits():
    mode = mode_by_name("ook-11.67k")
    data = bytes(range(100, 128))
    sent = np.frombuffer(bytes(fec.encode_nibbles(data, mode.rs, interleaved=True)), dtype=np.uint8)
    order = np.frombuffer(fec.interleave_order(len(sent)), dtype=np.uint16)
    received = sent.copy()
    block0 = np.nonzero(order < 15)[0]  # sent positions of RS block 0's symbols
    received[block0[:6]] ^= 5  # six wrong symbols: beyond t = 4
    received[np.nonzero((order >= 15) & (order < 30))[0][:2]] ^= 3  # two in block 1: corrected
    known = demod._feedback_bits(received, mode, len(data))
    sent_bits = ((sent[:, None] >> np.array([3, 2, 1, 0])) & 1).reshape(-1)
    unknown = np.zeros(len(sent), dtype=bool)
    unknown[block0] = True
    unknown = np.repeat(unknown, 4)
    assert np.all(known[unknown] == -1)
    assert np.array_equal(known[~unknown], sent_bits[~unknown])


def test_coding_gain_interval_shrinks_with_more_error_events():
    def points(scale):
        return [coded_ber.CodedPoint(10.0, 4.0, 100 * scale, 10**6 * scale, 10 * scale, 2000 * scale,
                                     1000 * scale),
                coded_ber.CodedPoint(11.0, 5.0, 10 * scale, 10**7 * scale, 1 * scale, 20000 * scale,
                                     100 * scale)]
    crossing, se = coded_ber.gamma_for_ber_interval(points(10), 1e-5)
    assert crossing == pytest.approx(coded_ber.gamma_for_ber(points(10), 1e-5))
    assert crossing == pytest.approx(10.5)  # BER 1e-4 at 10 dB, 1e-6 at 11 dB
    _, se_more = coded_ber.gamma_for_ber_interval(points(40), 1e-5)
    assert se_more == pytest.approx(se / 2, rel=1e-6)  # four times the events, half the spread
    assert 0.0 < se < 0.2
