"""The IEEE 802.15.7 PHY I modulation and coding schemes (MCS).

Data rate = optical clock x line-code rate (Manchester 1/2, 4B6B 4/6) x RS k/15 x CC rate, kept as an
exact fraction (``rate_fraction``) so that every listed rate comes out exactly:
OOK at 200 kHz: 11.67, 24.44, 48.89, 73.3, 100 kb/s; VPPM at 400 kHz: 35.56, 71.11, 124.4, 266.6 kb/s.
MCS ids follow the standard's order (0-4 OOK, 5-8 VPPM). The PHR of every frame is sent with the most
robust mode of the same modulation (``header_mode``): MCS 0 for OOK, MCS 5 for VPPM.
"""

OOK = "ook"
VPPM = "vppm"


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


class Mode:
    """One PHY I operating mode (immutable by convention)."""

    __slots__ = ("cc", "mcs_id", "modulation", "name", "optical_clock_hz", "rate_fraction", "rs")

    def __init__(self, name, mcs_id, modulation, rs, cc, optical_clock_hz):
        self.name = name
        self.mcs_id = mcs_id
        self.modulation = modulation
        self.rs = rs
        self.cc = cc
        self.optical_clock_hz = optical_clock_hz
        num = optical_clock_hz
        den = 2 if modulation == OOK else 6
        if modulation == VPPM:
            num *= 4
        if rs is not None:
            num *= rs[1]
            den *= rs[0]
        if cc is not None:
            num *= cc[0]
            den *= cc[1]
        g = _gcd(num, den)
        self.rate_fraction = (num // g, den // g)

    @property
    def data_rate_bps(self):
        return self.rate_fraction[0] / self.rate_fraction[1]

    @property
    def line_code(self):
        return "manchester" if self.modulation == OOK else "4b6b"

    def as_dict(self):
        return {
            "name": self.name,
            "mcs_id": self.mcs_id,
            "modulation": self.modulation,
            "line_code": self.line_code,
            "rs": None if self.rs is None else "RS(%d,%d)" % self.rs,
            "cc": None if self.cc is None else "%d/%d" % self.cc,
            "optical_clock_hz": self.optical_clock_hz,
            "data_rate_bps": self.data_rate_bps,
        }

    def __repr__(self):
        return "Mode(%r)" % self.name


MODES = (
    Mode("ook-11.67k", 0, OOK, (15, 7), (1, 4), 200000),
    Mode("ook-24.44k", 1, OOK, (15, 11), (1, 3), 200000),
    Mode("ook-48.89k", 2, OOK, (15, 11), (2, 3), 200000),
    Mode("ook-73.3k", 3, OOK, (15, 11), None, 200000),
    Mode("ook-100k", 4, OOK, None, None, 200000),
    Mode("vppm-35.56k", 5, VPPM, (15, 2), None, 400000),
    Mode("vppm-71.11k", 6, VPPM, (15, 4), None, 400000),
    Mode("vppm-124.4k", 7, VPPM, (15, 7), None, 400000),
    Mode("vppm-266.6k", 8, VPPM, None, None, 400000),
)


class UnknownMode(ValueError):
    """No PHY I mode has that name or MCS id."""


def mode_by_name(name):
    if isinstance(name, Mode):
        return name
    for m in MODES:
        if m.name == name:
            return m
    raise UnknownMode("unknown LiFi mode %r (known: %s)" % (name, ", ".join(m.name for m in MODES)))


def mode_by_id(mcs_id):
    for m in MODES:
        if m.mcs_id == mcs_id:
            return m
    raise UnknownMode("unknown PHY I MCS id %r" % (mcs_id,))


def header_mode(mode):
    """The mode the PHR is sent with: the lowest rate of the same modulation."""
    return MODES[0] if mode.modulation == OOK else MODES[5]
