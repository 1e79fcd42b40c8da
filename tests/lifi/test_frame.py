"""PPDU framing: round trip for every mode, FEC at work, precise errors, header layout."""

import binascii
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.lifi import dimming, fec, frame, linecode, modes
from protocols.lifi.errors import (
    FECError,
    HeaderError,
    LifiError,
    PayloadCRCError,
    SyncNotFound,
    TruncatedFrame,
)

from . import reference as ref

ALL = [m.name for m in modes.MODES]


def test_crc16_against_definitions():
    assert frame.crc16(b"123456789") == 0xD64E  # catalogue check value of CRC-16/GENIBUS
    for n in (0, 1, 5, 64):
        data = ref.lcg_bytes(n, n)
        assert frame.crc16(data) == ref.crc16_bitwise(data)
        assert frame.crc16(data) == binascii.crc_hqx(data, 0xFFFF) ^ 0xFFFF


def test_tdp_is_pattern_and_complement():
    bits = frame.tdp_bits(frame.TOPOLOGY_BROADCAST)
    p = [int(c) for c in "010000110100101"]
    assert list(bits) == p + [1 - b for b in p] + p + [1 - b for b in p]


def test_header_fields_layout():
    h = frame.header_bytes(modes.mode_by_name("vppm-124.4k"), 0x1FF, dimmed=True)
    bits = "".join(format(b, "08b") for b in h)
    assert bits[0] == "0" and bits[1:4] == "000"  # burst mode, channel
    assert int(bits[4:10], 2) == 7  # MCS id
    assert int(bits[10:26], 2) == 0x1FF  # PSDU length
    assert bits[26] == "1" and bits[27:32] == "00000"  # dimmed OOK flag, reserved
    assert int(bits[32:48], 2) == frame.crc16(h[:4])
    assert frame.parse_header(h) == (modes.mode_by_name("vppm-124.4k"), 0x1FF, True)
    h[2] ^= 1
    with pytest.raises(HeaderError):
        frame.parse_header(h)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("size", [0, 1, 32, 251])
def test_round_trip_every_mode(name, size):
    payload = bytes(ref.lcg_bytes(size + 3, size))
    chips = frame.build_frame(payload, name)
    assert len(chips) == frame.frame_chip_count(size, name)
    assert set(chips) <= {0, 1}
    assert sum(chips) * 2 == len(chips)  # undimmed frames are exactly DC balanced
    lead = bytearray(random.Random(size).getrandbits(1) for _ in range(37))  # odd-length noise
    f = frame.parse_frame(lead + chips + bytearray(10), name)
    assert f.payload == payload
    assert f.mode.name == name and f.start == 37 + frame.FLP_CHIPS and f.end == 37 + len(chips)
    assert frame.parse_chips(chips, name) == payload


@pytest.mark.parametrize("name", ["ook-11.67k", "ook-48.89k", "ook-100k", "vppm-35.56k", "vppm-266.6k"])
@pytest.mark.parametrize("dim", [0.1, 0.37, 0.5, 0.9])
def test_round_trip_dimmed(name, dim):
    payload = bytes(ref.lcg_bytes(9, 40))
    chips = frame.build_frame(payload, name, dim=dim)
    f = frame.parse_frame(bytearray(11) + chips, name)
    assert f.payload == payload
    assert f.dimmed == (modes.mode_by_name(name).modulation == "ook")


def test_psdu_decoded_with_the_mode_the_header_names():
    chips = frame.build_frame(b"hello", "ook-48.89k")
    assert frame.parse_frame(chips, "ook-100k").mode.name == "ook-48.89k"
    ook = modes.mode_by_name("ook-100k")
    header = frame.header_bytes(modes.mode_by_name("vppm-124.4k"), 3, False)
    hm = modes.header_mode(ook)
    phr = linecode.manchester_encode(fec.encode_bits(header, hm.rs, hm.cc))
    chips = bytearray(frame.FLP_CHIPS) + frame.tdp_bits() + phr + bytearray(2000)
    with pytest.raises(HeaderError, match="vppm"):
        frame.parse_frame(chips, ook)


def _psdu_start(name, size):
    m = modes.mode_by_name(name)
    return frame.FLP_CHIPS + frame.TDP_BITS + frame.field_chips(frame.PHR_BYTES, modes.header_mode(m))


@pytest.mark.parametrize("name, flips", [("ook-11.67k", 40), ("ook-24.44k", 20), ("ook-48.89k", 6),
                                         ("ook-73.3k", 3), ("vppm-35.56k", 12), ("vppm-124.4k", 3)])
def test_coded_modes_repair_chip_errors(name, flips):
    payload = bytes(ref.lcg_bytes(5, 64))
    chips = frame.build_frame(payload, name)
    start = _psdu_start(name, 64)
    span = (len(chips) - start) // flips
    width = 2 if modes.mode_by_name(name).modulation == "ook" else 1  # a whole Manchester bit
    for i in range(flips):
        at = start + (i * span + span // 3) // 2 * 2
        for j in range(width):
            chips[at + j] ^= 1
    stats = {}
    f = frame.parse_frame(chips, name, stats=stats)
    assert f.payload == payload and f.corrected > 0
    assert stats["frames_ok"] == 1 and stats["fec_corrected"] == f.corrected


def test_uncoded_error_is_caught_by_crc():
    chips = frame.build_frame(b"payload!", "ook-100k")
    chips[_psdu_start("ook-100k", 8) + 20] ^= 1
    chips[_psdu_start("ook-100k", 8) + 21] ^= 1  # a clean Manchester bit flip
    stats = {}
    with pytest.raises(PayloadCRCError):
        frame.parse_frame(chips, "ook-100k", stats=stats)
    assert stats == {"PayloadCRCError": 1}


def test_burst_beyond_rs_capacity_is_reported():
    chips = frame.build_frame(bytes(30), "vppm-124.4k")
    start = _psdu_start("vppm-124.4k", 30)
    for i in range(start, start + 6 * 6):
        chips[i] ^= 1  # 6 consecutive symbols in one RS(15,7) block: t = 4
    with pytest.raises((FECError, PayloadCRCError)):
        frame.parse_chips(chips, "vppm-124.4k")


def test_no_sync_and_truncation():
    with pytest.raises(SyncNotFound):
        frame.parse_chips(bytearray(2000), "ook-100k")
    chips = frame.build_frame(bytes(50), "ook-24.44k")
    with pytest.raises(TruncatedFrame):
        frame.parse_chips(chips[:-10], "ook-24.44k")
    with pytest.raises(LifiError):
        frame.build_frame(bytes(frame.MAX_PAYLOAD + 1), "ook-100k")


def test_sync_tolerates_a_few_chip_errors():
    chips = frame.build_frame(b"sync", "ook-11.67k")
    for i in (frame.FLP_CHIPS + 3, frame.FLP_CHIPS + 30, frame.FLP_CHIPS + 50):
        chips[i] ^= 1
    assert frame.find_sync(chips, "ook-11.67k") == (frame.FLP_CHIPS, False)
    assert frame.parse_chips(chips, "ook-11.67k") == b"sync"


def test_soft_light_levels_decode():
    rng = random.Random(11)
    payload = bytes(ref.lcg_bytes(1, 48))
    chips = frame.build_frame(payload, "ook-24.44k")
    levels = [min(1.0, max(0.0, 0.2 + 0.6 * c + rng.gauss(0, 0.18))) for c in chips]
    assert frame.parse_frame(levels, "ook-24.44k").payload == payload


def test_interleaver_is_a_permutation_per_the_standard_formula():
    syms = bytearray(range(37))
    out = fec.interleave(syms)
    assert sorted(out) == list(syms)
    d = 3  # ceil(37 / 15); padded to 45, 8 dummies dropped
    expected = [(i % d) * 15 + i // d for i in range(45)]
    assert list(out) == [s for s in expected if s < 37]
    assert fec.deinterleave(out) == syms


@pytest.mark.parametrize("name", ALL)
def test_builder_matches_the_step_by_step_chain(name):
    """The fused, preallocated transmitter path equals fec.py + linecode.py applied field by field."""
    m = modes.mode_by_name(name)
    hm = modes.header_mode(m)
    payload = bytes(ref.lcg_bytes(21, 77))
    psdu = payload + frame.crc16(payload).to_bytes(2, "big")
    header = frame.header_bytes(m, len(psdu), False)

    def field(data, mode):
        if mode.modulation == "ook":
            return linecode.manchester_encode(fec.encode_bits(data, mode.rs, mode.cc))
        return linecode.encode_4b6b(fec.encode_nibbles(data, mode.rs))

    flp = bytearray([1, 0] * (frame.FLP_CHIPS // 2))
    expected = flp + frame.tdp_bits() + field(header, hm) + field(psdu, m)
    builder = frame.FrameBuilder(m, max_payload=100)
    assert bytes(builder.build(payload)) == expected
    assert bytes(builder.build(payload[:5])) == frame.build_frame(payload[:5], m)  # buffers reused
    assert frame.build_frame(payload, m) == expected


@pytest.mark.parametrize("dim", [None, 0.15, 0.8])
def test_consecutive_frames_between_idle_light(dim):
    mode = modes.mode_by_name("ook-48.89k")
    comp = dimming.Compensator(dim) if dim is not None else None
    payloads = [b"first frame", b"second", bytes(ref.lcg_bytes(2, 90))]
    parts = [dimming.idle_chips(1001, mode, dim, comp)]
    for p in payloads:
        parts += [frame.build_frame(p, mode, dim, comp=comp), dimming.idle_chips(300, mode, dim, comp)]
    chips = bytearray().join(parts)
    found, pos, stats = [], 0, {}
    for _ in payloads:
        f = frame.parse_frame(chips, mode, start=pos, stats=stats)
        found.append(f.payload)
        pos = f.end
    assert found == payloads and stats == {"frames_ok": 3}
    with pytest.raises(SyncNotFound):
        frame.parse_frame(chips, mode, start=pos)


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=80), name=st.sampled_from(ALL),
       dim=st.one_of(st.none(), st.floats(min_value=0.05, max_value=0.95)), lead=st.integers(0, 41))
def test_any_payload_mode_and_level_round_trips(payload, name, dim, lead):
    chips = bytearray([1, 0, 0]) * lead + frame.build_frame(payload, name, dim)
    assert frame.parse_chips(chips, name) == payload


def test_interleaver_spreads_a_long_burst_over_the_rs_code_words():
    # 1,000 inverted chips = 500 wrong coded bits: the Viterbi decoder loses ~125 bits in a row,
    # 31 consecutive symbols of the interleaved stream, which land in different RS(15,7) code words.
    m = modes.mode_by_name("ook-11.67k")
    payload = bytes(ref.lcg_bytes(5, 200))
    chips = frame.build_frame(payload, m)
    start = _psdu_start("ook-11.67k", 200) + 3000
    for i in range(start, start + 1000):
        chips[i] ^= 1
    f = frame.parse_frame(chips, m)
    assert f.payload == payload and f.corrected > 31
