"""The PHY I MCS table: names, codes and data rates exactly as IEEE 802.15.7 lists them."""

from fractions import Fraction

import pytest

from protocols.lifi import modes

# name, MCS id, modulation, RS, CC, optical clock, rate in kb/s as listed (digits as listed)
LISTED = [
    ("ook-11.67k", 0, "ook", (15, 7), (1, 4), 200_000, "11.67"),
    ("ook-24.44k", 1, "ook", (15, 11), (1, 3), 200_000, "24.44"),
    ("ook-48.89k", 2, "ook", (15, 11), (2, 3), 200_000, "48.89"),
    ("ook-73.3k", 3, "ook", (15, 11), None, 200_000, "73.3"),
    ("ook-100k", 4, "ook", None, None, 200_000, "100"),
    ("vppm-35.56k", 5, "vppm", (15, 2), None, 400_000, "35.56"),
    ("vppm-71.11k", 6, "vppm", (15, 4), None, 400_000, "71.11"),
    ("vppm-124.4k", 7, "vppm", (15, 7), None, 400_000, "124.4"),
    ("vppm-266.6k", 8, "vppm", None, None, 400_000, "266.6"),
]


@pytest.mark.parametrize("name, mcs, modulation, rs, cc, clock, listed", LISTED)
def test_every_mode_rate_exactly(name, mcs, modulation, rs, cc, clock, listed):
    m = modes.mode_by_name(name)
    assert (m.mcs_id, m.modulation, m.rs, m.cc, m.optical_clock_hz) == (mcs, modulation, rs, cc, clock)
    exact = Fraction(clock) * (Fraction(1, 2) if modulation == "ook" else Fraction(4, 6))
    if rs:
        exact *= Fraction(rs[1], rs[0])
    if cc:
        exact *= Fraction(*cc)
    assert Fraction(*m.rate_fraction) == exact
    assert m.data_rate_bps == pytest.approx(float(exact), rel=1e-15)
    digits = len(listed.split(".")[1]) if "." in listed else 0
    # Rounded (truncated for 73.3/124.4/266.6, which the standard lists cut) to the listed digits.
    kbps = float(exact) / 1000
    assert f"{kbps:.{digits}f}" == listed or f"{int(kbps * 10**digits) / 10**digits:.{digits}f}" == listed
    assert modes.mode_by_id(mcs) is m
    assert m.as_dict()["data_rate_bps"] == m.data_rate_bps
    assert set(m.as_dict()) >= {"name", "modulation", "rs", "cc", "optical_clock_hz", "data_rate_bps"}


def test_table_is_complete_and_ordered():
    assert [m.name for m in modes.MODES] == [row[0] for row in LISTED]


def test_header_mode_is_the_most_robust_of_the_modulation():
    assert modes.header_mode(modes.mode_by_name("ook-100k")).name == "ook-11.67k"
    assert modes.header_mode(modes.mode_by_name("vppm-266.6k")).name == "vppm-35.56k"


def test_unknown_mode():
    with pytest.raises(modes.UnknownMode):
        modes.mode_by_name("ook-1M")
    with pytest.raises(modes.UnknownMode):
        modes.mode_by_id(9)
