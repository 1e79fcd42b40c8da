"""The store-and-forward ring: order, persistence, delivered marks, drop-oldest counting, torn writes,
wear spreading. The ring is common-subset code: each scenario runs under CPython and MicroPython."""

import os
import textwrap

import pytest

from nodekit import REPO, run_micropython  # noqa: F401  (REPO: sys.path set up by nodekit)

from firmware.clock import SYNCED, UNSYNCED
from firmware.ring import Ring, RingError, reading_bytes

SCENARIO = """
from firmware.ring import Ring

def drain(ring, deliver=True, limit=None):
    out = []
    while limit is None or len(out) < limit:
        item = ring.next()
        if item is None:
            break
        pos, boot, seq, kind, value, pack = item
        out.append([boot, seq, kind, value, pack.decode()])
        if deliver:
            ring.delivered(pos)
    return out

def scenario(path):
    result = {}
    ring = Ring(path, segments=3, segment_bytes=1024)
    for seq in range(10):
        ring.append(1, seq, 1, 1000 * seq, b"p%02d" % seq)
    result["first"] = drain(ring, limit=4)
    ring.close()
    ring = Ring(path, segments=3, segment_bytes=1024)       # a reboot: only undelivered come back
    result["buffered"] = ring.buffered
    result["after_reopen"] = drain(ring)
    for seq in range(200):                                  # far more than the ring holds: drop oldest
        ring.append(2, seq, 0, 1767225600 + seq, b"q%03d" % seq)
    result["dropped"] = ring.dropped
    result["held"] = ring.buffered
    ring.close()
    ring = Ring(path, segments=3, segment_bytes=1024)
    result["dropped_persisted"] = ring.dropped
    replay = drain(ring)
    result["replay_seqs"] = [r[1] for r in replay]
    result["replay_first"] = replay[0]
    result["max_boot"] = ring.max_boot
    return result
"""


def _scenario_cpython(path):
    namespace = {}
    exec(SCENARIO, namespace)
    return namespace["scenario"](path)


def _check(result):
    assert [r[1] for r in result["first"]] == [0, 1, 2, 3]
    assert result["first"][2] == [1, 2, 1, 2000, "p02"]            # original boot, seq, time, pack
    assert [r[1] for r in result["after_reopen"]] == [4, 5, 6, 7, 8, 9]
    assert result["buffered"] == 6
    held, dropped = result["held"], result["dropped"]
    assert dropped > 0 and held + dropped == 200                    # nothing lost silently
    assert result["dropped_persisted"] == dropped
    assert result["replay_seqs"] == list(range(dropped, 200))        # the oldest went, order kept
    assert result["replay_first"] == [2, dropped, 0, 1767225600 + dropped, "q%03d" % dropped]
    assert result["max_boot"] == 2


def test_ring_scenario_cpython(tmp_path):
    _check(_scenario_cpython(str(tmp_path / "ring")))


@pytest.mark.micropython
def test_ring_scenario_micropython(tmp_path):
    script = SCENARIO + "\nimport json\nprint(json.dumps(scenario('ring')))\n"
    _check(run_micropython(script, tmp_path))


def test_torn_write_loses_only_the_record_being_written(tmp_path):
    path = str(tmp_path / "ring")
    ring = Ring(path, segments=4, segment_bytes=4096)
    for seq in range(5):
        ring.append(1, seq, UNSYNCED, seq, b"abcdefgh")
    ring.close()
    segment = tmp_path / "ring" / "0"
    size = segment.stat().st_size
    os.truncate(segment, size - 5)                  # power cut in the middle of the last append
    ring = Ring(path, segments=4, segment_bytes=4096)
    assert ring.torn == 1 and ring.buffered == 4
    ring.append(2, 0, UNSYNCED, 7, b"after")        # appends go on in a fresh segment
    ring.close()
    ring = Ring(path, segments=4, segment_bytes=4096)
    seen = []
    while (item := ring.next()) is not None:
        seen.append((item[1], item[2]))
    assert seen == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0)]


def test_damaged_byte_is_caught_by_the_crc(tmp_path):
    path = str(tmp_path / "ring")
    ring = Ring(path, segments=3, segment_bytes=4096)
    for seq in range(3):
        ring.append(1, seq, SYNCED, 1767225600, b"payload")
    ring.close()
    data = bytearray((tmp_path / "ring" / "0").read_bytes())
    data[-3] ^= 0xFF                                # corrupt the pack of the last reading
    (tmp_path / "ring" / "0").write_bytes(bytes(data))
    ring = Ring(path, segments=3, segment_bytes=4096)
    assert ring.torn == 1 and ring.buffered == 2


def test_writes_rotate_over_every_segment_file(tmp_path):
    ring = Ring(str(tmp_path / "ring"), segments=5, segment_bytes=1024)
    for seq in range(300):
        ring.append(1, seq, SYNCED, 1767225600 + seq, b"x" * 20)
        item = ring.next()
        ring.delivered(item[0])
    ring.close()
    sizes = [(tmp_path / "ring" / str(i)).stat().st_size for i in range(5)]
    assert all(s > 512 for s in sizes), sizes
    assert ring.dropped == 0                        # delivered readings are reused, not dropped


def test_delivered_marks_survive_a_cut_without_close(tmp_path):
    path = str(tmp_path / "ring")
    ring = Ring(path, segments=3, segment_bytes=4096)
    for seq in range(40):
        ring.append(1, seq, SYNCED, 1767225600, b"v")
    for _ in range(40):
        ring.delivered(ring.next()[0])
    # no close(): the process dies here
    ring = Ring(path, segments=3, segment_bytes=4096)
    assert ring.buffered == 0 and ring.next() is None


def test_oversized_reading_is_refused(tmp_path):
    ring = Ring(str(tmp_path / "ring"), segments=3, segment_bytes=4096, max_pack=64)
    with pytest.raises(RingError):
        ring.append(1, 0, SYNCED, 1767225600, b"z" * 65)
    assert ring.buffered == 0


def test_capacity_figure_is_what_a_full_ring_holds(tmp_path):
    pack = b"y" * 100
    ring = Ring(str(tmp_path / "ring"), segments=4, segment_bytes=2048)
    for seq in range(200):
        ring.append(1, seq, SYNCED, 1767225600, pack)
    per_segment = (2048 - 16) // reading_bytes(len(pack))
    # When full, the segment being reused is gone: the ring holds the other three and the tail.
    assert 3 * per_segment <= ring.buffered <= 4 * per_segment
    assert ring.buffered + ring.dropped == 200
