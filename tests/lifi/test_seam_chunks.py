"""The transmitter's piecewise RMT writes (firmware/lifi_seam.py) give exactly the single-write pulses."""

import itertools

import pytest

from firmware import lifi_seam
from protocols.lifi import beacon


class RecordingRMT:
    """Stands in for esp32.RMT (no radio here): keeps a copy of every write, as the RMT copies the
    pulses into its own items."""

    def __init__(self):
        self.writes = []

    def write_pulses(self, durations, level=True):
        self.writes.append((list(durations), level))


def _transmitter():
    rmt = RecordingRMT()
    return lifi_seam.Transmitter(lambda div: rmt, 8000, lifi_seam.FrameCodec("ook-100k")), rmt


def test_pieces_join_into_the_single_write_and_end_on_off_runs():
    tx, rmt = _transmitter()
    chips = tx.codec.chips(bytes(range(40)))
    whole, start = tx.durations(chips)
    assert tx.send_chunked(chips) == len(chips)
    pieces = rmt.writes
    assert len(pieces) > 3
    joined = [d for durations, _ in pieces for d in durations]
    assert joined == whole and pieces[0][1] == bool(start)
    for (durations, level), (_, next_level) in itertools.pairwise(pieces):
        assert len(durations) <= lifi_seam.CHUNK_RUNS + 1
        last_level = level if len(durations) % 2 else not level  # runs alternate
        assert last_level is False  # hand-overs happen in the dark
        assert next_level is True  # and the next piece picks up with the ON run that follows


def test_beacon_sender_counts_from_the_boot_range_and_stops_at_its_end():
    tx, _ = _transmitter()
    key = beacon.derive_lamp_key(b"master", "a4cf12000009")
    sender = lifi_seam.BeaconSender(tx, "a4cf12000009", key, boot=2, period_ms=100)
    assert sender.poll(0) > 0 and sender.poll(50) == 0 and sender.poll(100) > 0
    assert sender.sent == 2 and sender.signer.counter == (2 << 20) + 2
    sender.signer.counter = (3 << 20) - 1  # this boot's range used up
    assert sender.poll(200) == 0
    assert sender.stopped == "counter range of this boot used up"
    assert sender.sent == 2
    with pytest.raises(ValueError, match="new key"):
        lifi_seam.BeaconSender(tx, "a4cf12000009", key, boot=4096)
