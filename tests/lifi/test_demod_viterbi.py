"""The receiver's numpy batch Viterbi decodes exactly what the core's encoder sends, as the core's decoder does."""

import numpy as np
import pytest

from protocols.lifi import cc
from sim.lifi import viterbi


@pytest.mark.parametrize("rate", cc.RATES)
def test_noiseless_round_trip_of_the_core_encoder(rate):
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2, (4, 97)).astype(np.uint8)
    coded = np.array([list(cc.encode(bytearray(row.tolist()), rate)) for row in bits], dtype=np.float32)
    assert np.array_equal(viterbi.decode(2 * coded - 1, rate, 97), bits)
    assert np.array_equal(viterbi.decode(2 * coded[0] - 1, rate, 97), bits[0])  # one frame, 1-D


@pytest.mark.parametrize("rate", cc.RATES)
def test_same_decisions_as_the_core_decoder_under_noise(rate):
    rng = np.random.default_rng(12)
    bits = rng.integers(0, 2, (6, 120)).astype(np.uint8)
    coded = np.array([list(cc.encode(bytearray(row.tolist()), rate)) for row in bits], dtype=np.float32)
    soft = 2 * coded - 1 + rng.normal(0, 0.6, coded.shape).astype(np.float32)
    ours = viterbi.decode(soft, rate, 120)
    # the core takes soft values 0..255 and an L1 branch metric; ours is the Gaussian ML metric on
    # unquantised values: never clearly worse, and identical where the noise leaves the path unambiguous
    quantised = np.clip(np.rint(128 + 40 * soft), 0, 255).astype(np.uint8)
    core = np.array([list(cc.decode(bytearray(row.tobytes()), rate, 120)) for row in quantised])
    our_errors = np.count_nonzero(ours != bits)
    assert our_errors <= np.count_nonzero(core != bits) + 5
    if np.count_nonzero(core != bits) == 0:
        assert our_errors == 0
    # and the code corrects: dozens of channel bits are wrong, the decoded bits are not
    assert np.count_nonzero((soft > 0) != (coded > 0)) > 20
    assert our_errors == 0


def test_wrong_length_is_refused():
    with pytest.raises(ValueError):
        viterbi.decode(np.zeros((1, 10), np.float32), (1, 3), 97)
