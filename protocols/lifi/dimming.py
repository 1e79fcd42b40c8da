"""Dimming while transmitting: constant mean light through data, gaps and idle.

VPPM: the pulse width of every symbol is the dimming level, so every symbol carries the same light
whatever the data; chips do not change with the level (``vppm_duty``, ``light_samples``).

OOK: Manchester data carries exactly half light per bit. To hold another level the transmitter inserts
*compensation pairs* between chip pairs: "11" above 50 %, "00" below. Neither is a valid Manchester
pair, so a receiver removes them without knowing the level (``strip_compensation``). Where they go is
decided by an error-diffusion accumulator in integer thousandths of a chip (``Compensator``): after each
pair the light owed to the set level is tracked and a compensation pair is emitted whenever that brings
the running error closer to zero. The running error thus stays within about one chip pair whatever the
position, so any window of W chips (5 ms = 1000 chips at 200 kHz) is within roughly 2/W of the set
level. Keep one Compensator across frames and idle so that the bound holds through gaps as well.
A dimmed OOK frame sends its topology pattern Manchester-coded so that every part of the frame is made
of pairs (see frame.py).
"""

from array import array

from protocols.lifi.compat import micropython
from protocols.lifi.errors import DimmingError
from protocols.lifi.modes import OOK

MIN_PERMILLE = 50
MAX_PERMILLE = 950


def level_permille(dim):
    """Dimming level (fraction of full light, 0.05..0.95) as integer thousandths."""
    q = int(dim * 1000 + 0.5)
    if q < MIN_PERMILLE or q > MAX_PERMILLE:
        raise DimmingError("dimming level %r outside %.2f..%.2f"
                           % (dim, MIN_PERMILLE / 1000, MAX_PERMILLE / 1000))
    return q


def vppm_duty(dim):
    """VPPM pulse width as a fraction of the symbol: the dimming level (0.5 when not dimmed)."""
    return 0.5 if dim is None else level_permille(dim) / 1000


class Compensator:
    """Error-diffusion state of OOK compensation at one level, carried across everything sent."""

    def __init__(self, dim):
        self.permille = level_permille(dim)
        self.chip = 1 if self.permille > 500 else 0
        # Light change (thousandths of a chip) of one data pair and of one compensation pair.
        self.data_delta = 1000 - 2 * self.permille
        self.comp_delta = 2000 * self.chip - 2 * self.permille
        self.error = 0
        self.pairs_inserted = 0


@micropython.native
def _diffuse(chips, n_chips, error, data_delta, comp_delta, c, out):
    # Error diffusion over n_chips chips (whole pairs): after each data pair, emit compensation pairs
    # while that brings the running light error closer to zero. out None: count only.
    j = 0
    inserted = 0
    write = out is not None
    for i in range(0, n_chips, 2):
        if write:
            out[j] = chips[i]
            out[j + 1] = chips[i + 1]
        j += 2
        error += data_delta
        while (2 * error + comp_delta if comp_delta > 0 else -(2 * error + comp_delta)) <= 0:
            error += comp_delta
            if write:
                out[j] = c
                out[j + 1] = c
            j += 2
            inserted += 1
    return j, error, inserted


def count_pairs(n_pairs, comp):
    """Pairs (data + compensation) that n_pairs data pairs become, without changing comp's state."""
    inserted = _diffuse(None, 2 * n_pairs, comp.error, comp.data_delta, comp.comp_delta, comp.chip,
                        None)[2]
    return n_pairs + inserted


def max_pairs(n_pairs, comp):
    """Upper bound of count_pairs without walking the pairs: the inserted pairs cancel the data's
    drift from the level, give or take the running error at both ends (each under one step)."""
    dd = abs(comp.data_delta)
    if dd == 0:
        return n_pairs
    cd = abs(comp.comp_delta)
    return n_pairs + (n_pairs * dd + abs(comp.error) + dd + cd) // cd + 2


def compensate_into(chips, n_chips, comp, out):
    """Copy chips[:n_chips] (whole Manchester pairs) into out with compensation pairs inserted;
    returns the number of chips written (out must hold 2 * count_pairs(n_chips // 2, comp), which
    2 * max_pairs(...) guarantees)."""
    if n_chips & 1:
        raise DimmingError("OOK compensation needs whole chip pairs")
    j, comp.error, inserted = _diffuse(chips, n_chips, comp.error, comp.data_delta, comp.comp_delta,
                                       comp.chip, out)
    comp.pairs_inserted += inserted
    return j


def compensate(chips, comp):
    """Insert compensation pairs into an even-length chip stream made of Manchester pairs."""
    if len(chips) & 1:
        raise DimmingError("OOK compensation needs whole chip pairs")
    out = bytearray(2 * count_pairs(len(chips) // 2, comp))
    compensate_into(chips, len(chips), comp, out)
    return out


def _is_comp(chips, i, chip):
    return (chips[i] > 0.5) == chip and (chips[i + 1] > 0.5) == chip


def strip_compensation(chips, start, chip, with_positions=True):
    """Remove compensation pairs (both chips equal to ``chip``; chip values above 0.5 are ON) from
    the pairs starting at ``start``. Returns (kept chips as 0/1, original index of each kept pair),
    the second None unless with_positions (it costs 4 bytes a pair; see kept_pair_origin)."""
    n_pairs = (len(chips) - start) // 2
    stop = start + 2 * n_pairs
    keep = 0
    for i in range(start, stop, 2):
        if not _is_comp(chips, i, chip):
            keep += 1
    kept = bytearray(2 * keep)
    positions = array("I", bytes(4 * keep)) if with_positions else None
    j = 0
    for i in range(start, stop, 2):
        if _is_comp(chips, i, chip):
            continue
        kept[2 * j] = 1 if chips[i] > 0.5 else 0
        kept[2 * j + 1] = 1 if chips[i + 1] > 0.5 else 0
        if positions is not None:
            positions[j] = i
        j += 1
    return kept, positions


def kept_pair_origin(chips, start, chip, index):
    """Original chip index of the kept pair number ``index`` of strip_compensation(chips, start,
    chip), found by walking the pairs again instead of storing every position."""
    for i in range(start, len(chips) - 1, 2):
        if not _is_comp(chips, i, chip):
            if index == 0:
                return i
            index -= 1
    raise IndexError("fewer kept pairs than %d" % index)


def idle_chips(n_chips, mode, dim=None, comp=None):
    """Idle light between frames: n_chips alternating chips ("10" pairs; rounded up to a whole pair
    when compensating) followed, for OOK dimming, by the compensation pairs they call for, so the
    result is longer than n_chips below or above 50 %."""
    pattern = bytearray(n_chips + (n_chips & 1))
    for i in range(0, len(pattern), 2):
        pattern[i] = 1
    if mode.modulation != OOK or dim is None:
        return pattern[:n_chips]
    if comp is None:
        comp = Compensator(dim)
    return compensate(pattern, comp)


def light_samples(chips, mode, dim, sps):
    """Light intensity (0/1 per sample) at ``sps`` samples per chip. OOK: each chip held for sps
    samples. VPPM: a pulse of round(duty * sps) samples at the start of the symbol for 0, at its end
    for 1."""
    out = bytearray(len(chips) * sps)
    if mode.modulation == OOK:
        j = 0
        for c in chips:
            if c:
                for k in range(j, j + sps):
                    out[k] = 1
            j += sps
        return out
    width = int(vppm_duty(dim) * sps + 0.5)
    j = 0
    for c in chips:
        first = j + sps - width if c else j
        for k in range(first, first + width):
            out[k] = 1
        j += sps
    return out
