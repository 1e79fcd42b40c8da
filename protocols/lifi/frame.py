"""PHY I frame (PPDU) = SHR | PHR | PSDU: building (builder.py) and finding/decoding in chips.

The layout of the SHR and PHR and the CRCs are in header.py. The PHR and the PSDU are coded
separately (own RS/interleaver/CC runs, each CC terminated by its tail); the PSDU is decoded with the
MCS its PHR names. Every failure is a precise LifiError subclass, counted when a stats dict is given.
"""

from protocols.lifi import fec, linecode
from protocols.lifi.builder import FrameBuilder, build_frame
from protocols.lifi.dimming import kept_pair_origin, strip_compensation
from protocols.lifi.errors import HeaderError, LifiError, PayloadCRCError, SyncNotFound, TruncatedFrame, count
from protocols.lifi.header import (
    CRC_BYTES,
    FLP_CHIPS,
    MAX_PAYLOAD,
    MAX_PSDU,
    MAX_SYNC_ERRORS,
    PHR_BYTES,
    TDP_BITS,
    TOPOLOGIES,
    TOPOLOGY_BROADCAST,
    TOPOLOGY_INDEPENDENT,
    TOPOLOGY_PEER_TO_PEER,
    TOPOLOGY_STAR,
    crc16,
    field_chips,
    frame_chip_count,
    header_bytes,
    parse_header,
    tdp_bits,
    tdp_chips,
)
from protocols.lifi.modes import OOK, header_mode, mode_by_name

# Building lives in builder.py and the header layout in header.py; this module is where users of the
# modem find the whole frame API.
__all__ = [
    "CRC_BYTES", "FLP_CHIPS", "MAX_PAYLOAD", "MAX_PSDU", "MAX_SYNC_ERRORS", "PHR_BYTES", "TDP_BITS",
    "TOPOLOGIES", "TOPOLOGY_BROADCAST", "TOPOLOGY_INDEPENDENT", "TOPOLOGY_PEER_TO_PEER",
    "TOPOLOGY_STAR", "Frame", "FrameBuilder", "build_frame", "crc16", "field_chips", "find_sync",
    "frame_chip_count", "header_bytes", "parse_chips", "parse_frame", "parse_header", "tdp_bits",
]


class Frame:
    """A decoded frame: payload bytes, the mode of its PSDU, where it lay in the chips."""

    __slots__ = ("corrected", "dimmed", "end", "mode", "payload", "start")

    def __init__(self, payload, mode, dimmed, start, end, corrected):
        self.payload = payload
        self.mode = mode
        self.dimmed = dimmed
        self.start = start  # index of the first TDP chip
        self.end = end  # index just after the last chip of the frame
        self.corrected = corrected  # symbols/bits repaired by the FEC and line code

    def __repr__(self):
        return "Frame(%s, %d bytes, chips %d..%d)" % (self.mode.name, len(self.payload), self.start,
                                                      self.end)


def _match_at(chips, i, pattern, limit):
    errors = 0
    for j in range(len(pattern)):
        if (chips[i + j] > 0.5) != pattern[j]:
            errors += 1
            if errors > limit:
                return False
    return True


def _search(chips, pattern, start, limit, step=1):
    last = len(chips) - len(pattern)
    for i in range(start, last + 1, step):
        if _match_at(chips, i, pattern, limit):
            return i
    return -1


# A dimmed TDP (120 chips) stretched by compensation pairs at the most extreme level (19 pairs per
# data pair at 5 %) spans less than this many chips: the overlap between search chunks.
_DIMMED_TDP_REACH = 120 * 20


class _Sync:
    """One synchronisation candidate. For a dimmed frame the stream to decode is the pairs left once
    compensation pairs (both chips equal to ``chip``) are removed from ``align`` on; it is rebuilt
    only when this candidate is decoded, so that trying several costs no lasting memory."""

    def __init__(self, chips, tdp_start, after_tdp, chip=None, align=0, evidence=0):
        self.chips = chips
        self.tdp_start = tdp_start  # index of the first TDP chip in chips
        self.after_tdp = after_tdp  # index just after the TDP in the stream
        self.dimmed = chip is not None
        self.chip = chip
        self.align = align
        self.evidence = evidence  # compensation pairs removed before the TDP: higher = likelier

    def stream(self):
        if not self.dimmed:
            return self.chips
        return strip_compensation(self.chips, self.align, self.chip, with_positions=False)[0]

    def original_end(self, pos):
        if not self.dimmed:
            return pos
        return kept_pair_origin(self.chips, self.align, self.chip, pos // 2 - 1) + 2


def _dimmed_search(chips, align, chip, pattern, limit):
    """First Manchester-coded TDP starting before ``limit`` once compensation pairs are removed from
    ``align`` on: (its original chip index, its index in the stream of kept pairs) or None. Works in
    chunks so that a frame near the start is found without stripping the whole capture."""
    skipped = 0  # kept chips before the current chunk
    chunk = 8192
    lo = align
    while lo < limit:
        hi = min(lo + chunk, limit)
        piece = chips[lo:hi + _DIMMED_TDP_REACH]
        kept = strip_compensation(piece, 0, chip, with_positions=False)[0]
        i = _search(kept, pattern, 0, 2 * MAX_SYNC_ERRORS, 2)
        if i >= 0:
            origin = lo + kept_pair_origin(piece, 0, chip, i // 2)
            if origin < hi:
                return origin, skipped + i
        # kept chips of this chunk alone (the overlap is searched again with the next one)
        skipped += len(strip_compensation(chips[lo:hi], 0, chip, with_positions=False)[0])
        lo = hi
    return None


def _candidates(chips, mode, start, topology):
    """Synchronisation candidates, earliest first. A dimmed OOK frame above 50 % compensates with
    "11" pairs, below with "00"; which one cannot be told before decoding when the level is close to
    50 % (few compensation pairs), so both are tried and the decoder keeps the one that checks."""
    found = []
    plain = _search(chips, tdp_bits(topology), start, MAX_SYNC_ERRORS)
    if plain >= 0:
        found.append(_Sync(chips, plain, plain + TDP_BITS))
    if mode.modulation == OOK:
        pattern = tdp_chips(True, topology)
        # A dimmed frame only counts if it starts before a plain hit, and after a first dimmed hit
        # the other variants only matter at the same place: each search stops there. The likelier
        # compensation chip (the majority of the first chips) goes first.
        limit = len(chips) if plain < 0 else plain
        head = chips[start:start + 4000]
        ones = 0
        for v in head:
            if v > 0.5:
                ones += 1
        likely = 1 if 2 * ones > len(head) else 0
        for chip in (likely, 1 - likely):
            for align in (start, start + 1):
                hit = _dimmed_search(chips, align, chip, pattern, limit)
                if hit is not None:
                    found.append(_Sync(chips, hit[0], hit[1] + len(pattern), chip, align,
                                       (hit[0] - align) // 2 - hit[1] // 2))
                    limit = min(limit, hit[0] + 2)
    if not found:
        raise SyncNotFound("no topology pattern in %d chips" % (len(chips) - start))
    found.sort(key=lambda c: (c.tdp_start, -c.evidence))
    return found


def _field_decode(stream, pos, n_bytes, mode, stats):
    n = field_chips(n_bytes, mode)
    if len(stream) < pos + n:
        raise TruncatedFrame("frame needs %d more chips, %d left" % (n, len(stream) - pos))
    if mode.modulation == OOK:
        n_bits = n // 2
        if mode.cc is not None:
            soft = linecode.manchester_soft(stream, n_bits, pos)
            data, corrected = fec.decode_bits(soft, mode.rs, mode.cc, n_bytes, soft=True)
        else:
            bits = linecode.manchester_decode(stream, n_bits, pos)
            data, corrected = fec.decode_bits(bits, mode.rs, None, n_bytes)
    else:
        nibs = linecode.decode_4b6b(stream, n // 6, pos, stats=stats)
        data, corrected = fec.decode_nibbles(nibs, mode.rs, n_bytes)
    return data, pos + n, corrected


def _decode(sync, mode, stats):
    stream = sync.stream()
    hdr, pos, corr_h = _field_decode(stream, sync.after_tdp, PHR_BYTES, header_mode(mode), stats)
    psdu_mode, psdu_len, flag = parse_header(hdr)
    if psdu_mode.modulation != mode.modulation:
        raise HeaderError("PHR names %s, receiver listens for %s" % (psdu_mode.name, mode.modulation))
    psdu, pos, corr_p = _field_decode(stream, pos, psdu_len, psdu_mode, stats)
    payload = bytes(psdu[:-CRC_BYTES])
    if crc16(payload) != (psdu[-2] << 8 | psdu[-1]):
        raise PayloadCRCError("PSDU CRC-16 mismatch")
    return Frame(payload, psdu_mode, sync.dimmed or flag, sync.tdp_start, sync.original_end(pos),
                 corr_h + corr_p)


def parse_frame(chips, mode, start=0, stats=None, topology=TOPOLOGY_BROADCAST):
    """Find and decode the first frame in chips[start:].

    chips: 0/1 values, or light levels in 0..1 (soft values feed the Viterbi decoder). ``mode`` gives
    the modulation (OOK or VPPM) and so how the PHR is coded; the PSDU is decoded with the MCS the PHR
    names, which must be of the same modulation. Synchronisation candidates (at most five: plain and
    dimmed forms) are tried earliest first; the first that decodes wins. Returns a Frame; raises a
    LifiError subclass (that of the earliest candidate when none decodes) and, when ``stats`` (dict) is
    given, counts the outcome under the error's class name or 'frames_ok'."""
    mode = mode_by_name(mode)
    first_error = None
    try:
        candidates = _candidates(chips, mode, start, topology)
    except LifiError as exc:
        count(stats, type(exc).__name__)
        raise
    for sync in candidates:
        try:
            f = _decode(sync, mode, stats)
        except LifiError as exc:
            if first_error is None:
                first_error = exc
            continue
        count(stats, "frames_ok")
        if f.corrected:
            count(stats, "fec_corrected", f.corrected)
        return f
    count(stats, type(first_error).__name__)
    raise first_error


def parse_chips(chips, mode):
    """Payload bytes of the first frame in chips, or a LifiError saying precisely what failed."""
    return parse_frame(chips, mode).payload


def find_sync(chips, mode, start=0, topology=TOPOLOGY_BROADCAST):
    """(index of the first TDP chip, dimmed form?) of the first synchronisation header."""
    first = _candidates(chips, mode_by_name(mode), start, topology)[0]
    return first.tdp_start, first.dimmed
