"""The node runtime end to end: the real firmware in MicroPython unix-port processes (sim/board_process.py)
against a real Mosquitto, with C2's SensorNode on the shipped DevKitC board and its device models.

Boards run with a 64 KB RAM budget for the firmware's data (code charged as flash, see
sim.board_process.code_footprint)."""

import random
import time

import pytest

from nodekit import Broker, Collector, data_keys, start_node, unique_site, wait_until

pytestmark = [pytest.mark.micropython, pytest.mark.broker]


@pytest.fixture
def site():
    return unique_site("c1node")


@pytest.fixture
def collector(site):
    c = Collector(site)
    yield c
    c.close()


def test_boot_birth_then_periodic_data(tmp_path, site, collector):
    board = start_node(tmp_path, site)
    try:
        assert wait_until(lambda: len(collector.of("data")) >= 5, 15), board.console_text()
    finally:
        board.kill()
    birth = collector.of("birth")[0]
    data = collector.of("data")
    # Boot 1; key 2 is the next data seq, so it counts the readings stored before the first connection.
    assert birth[1] == 1 and birth[2] in [m[2] for m in data]
    assert birth[10] == "sensor" and birth[11] == "esp32-devkitc-sensor"
    assert birth[17] is False and birth[16] == "power-on"
    assert {c[0] for c in birth[14]} >= {"temp", "hum", "pres", "lux"}
    assert [m[2] for m in data[:5]] == [0, 1, 2, 3, 4]
    assert all(m[1] == 1 for m in data)
    assert isinstance(data[0][3], list)                     # no NTP configured: unsynced [uptime_ms]
    names = {rec[0] for rec in data[0][4]}
    assert {"temp", "hum", "pres"} <= names
    assert "MemoryError" not in board.console_text()
    assert_contract(collector)


def assert_contract(collector):
    """Every message the node sent passes the wire contract's check (protocols.messages.validate)."""
    from protocols import messages
    uplinks = [(channel, msg) for _, channel, msg in collector.messages if channel in messages.UPLINK_CHANNELS]
    assert uplinks
    for channel, msg in uplinks:
        messages.validate(channel, msg)


def test_boot_counter_increments_and_death_carries_it(tmp_path, site, collector):
    board = start_node(tmp_path, site)
    try:
        assert wait_until(lambda: collector.of("data"), 15)
        board.kill()
        assert wait_until(lambda: collector.of("death"), 45), "the will was not published"
        board.start()
        assert wait_until(lambda: any(b[1] == 2 for b in collector.of("birth")), 15), board.console_text()
    finally:
        board.kill()
    assert collector.of("death")[0] == {1: 1}
    boots = [b[1] for b in collector.of("birth")]     # a reconnect within a boot births again
    assert boots == sorted(boots) and set(boots) == {1, 2}


def test_broker_outage_every_reading_arrives_once_in_order(tmp_path, site):
    broker = Broker(tmp_path).start()
    collector = Collector(site, port=broker.port)
    board = start_node(tmp_path, site, port=broker.port)
    try:
        assert wait_until(lambda: len(collector.of("data")) >= 3, 15), board.console_text()
        broker.stop()
        before = len(collector.of("data"))
        time.sleep(3)                                       # ten reporting periods without a broker
        broker.start()
        assert wait_until(lambda: len(collector.of("data")) >= before + 12, 20), board.console_text()
        board.kill()
        # Before the cut: after the cut, readings whose delivery mark was not yet written are sent again.
        uncut = [m[2] for m in collector.of("data")]
        stored = ring_contents(tmp_path / "board")
        board.start()                                       # sends what was in flight at the cut
        assert wait_until(lambda: set(data_keys(collector.of("data"))) >= set(stored), 20)
    finally:
        board.kill()
        collector.close()
        broker.stop()
    boot1 = [m for m in collector.of("data") if m[1] == 1]
    seqs = [m[2] for m in boot1]
    first_seen = list(dict.fromkeys(seqs))
    assert first_seen == sorted(first_seen), "data arrived out of order"
    assert set(seqs) == set(range(max(seqs) + 1))
    # The reading in flight when the broker went may legitimately come twice (QoS 1: its PUBACK may
    # have been lost); those taken while the broker was away were never sent before and must come once.
    outage = range(before + 1, before + 10)
    assert all(uncut.count(s) == 1 for s in outage), "a reading of the outage arrived twice"
    times = {(m[1], m[2]): m[3] for m in boot1}
    for key, stamp in stored.items():
        if key[0] == 1:
            assert times[key] == stamp, f"reading {key} lost its original time"


def ring_contents(board_dir):
    """(boot, seq) -> stored time field of every reading in the board's ring (read with the firmware's
    own ring module under CPython: it is written in the common subset)."""
    from firmware.ring import Ring
    from firmware.clock import SYNCED
    ring = Ring(str(board_dir / "ring"), 8, 32768)
    ring.rewind()
    found = {}
    while True:
        item = ring.next()
        if item is None:
            return found
        _, boot, seq, kind, value, _ = item
        found[(boot, seq)] = value if kind == SYNCED else [value]


def test_power_cuts_at_random_moments_lose_no_reading(tmp_path, site, collector):
    rng = random.Random(20261121)
    board = start_node(tmp_path, site)
    try:
        for _ in range(4):
            time.sleep(rng.uniform(0.4, 1.6))
            board.kill()
            board.start()
        assert wait_until(lambda: collector.of("data"), 10)
        time.sleep(1.0)
        board.kill()
        stored = ring_contents(tmp_path / "board")
        board.start()                                   # anything still buffered goes out now
        assert wait_until(lambda: any(b[1] == 6 for b in collector.of("birth")), 20), board.console_text()
        assert wait_until(lambda: set(data_keys(collector.of("data"))) >= set(stored), 20)
    finally:
        board.kill()
    received = data_keys(collector.of("data"))
    assert set(received) >= set(stored)
    assert {b for b, _ in stored} >= {1}
    for boot in {b for b, _ in received}:
        seqs = {s for b, s in received if b == boot}
        assert seqs == set(range(max(seqs) + 1)), f"boot {boot} has a gap"
    # Six power-ups, six boot numbers: a board cut before it connected shows no birth, never a reuse.
    births = [b[1] for b in collector.of("birth")]
    assert births == sorted(births) and births[-1] == 6


def test_commands_are_acknowledged(tmp_path, site, collector):
    board = start_node(tmp_path, site)
    try:
        assert wait_until(lambda: collector.of("data"), 15), board.console_text()
        collector.publish_cmd(site, 1, "status")
        assert wait_until(lambda: collector.ack_for(1), 10)
        collector.publish_cmd(site, 2, "period", {"s": 2})
        assert wait_until(lambda: collector.ack_for(2), 10)
        collector.publish_cmd(site, 3, "launch", {})
        collector.publish_cmd(site, 4, "period", {"s": "fast"})
        collector.publish_cmd(site, 5, "config", {"mqtt.keepalive": 45})
        collector.publish_cmd(site, 6, "config", {"node.site": "elsewhere"})
        collector.publish_cmd(site, 7, "rebirth")
        assert wait_until(lambda: all(collector.ack_for(i) for i in range(3, 8)), 10)
        births_before = len(collector.of("birth"))
        collector.publish_cmd(site, 8, "reboot")
        assert wait_until(lambda: collector.ack_for(8), 10)
        assert wait_until(lambda: any(b[1] == 2 for b in collector.of("birth")), 15), board.console_text()
    finally:
        board.kill()
    results = {i: collector.ack_for(i)[43] for i in range(1, 9)}
    assert results[2] == "ok", collector.of("ack")
    assert results == {1: "ok", 2: "ok", 3: "unknown-op", 4: "bad-args", 5: "ok", 6: "bad-args", 7: "ok",
                       8: "ok"}
    assert collector.ack_for(5)[44] == {"after_reboot": ["mqtt.keepalive"]}
    assert collector.of("status") and collector.of("status")[0][27] == 1
    assert any(s[27] == 2 for s in collector.of("status")[1:]) or births_before >= 2
    reborn = [b for b in collector.of("birth") if b[1] == 2][0]
    assert reborn[16] == "soft" and reborn[17] is False
    assert any(e[30] == "config-changed" for e in collector.of("evt"))
    import json
    saved = json.loads((tmp_path / "board" / "config.json").read_text())
    assert saved["period"] == 2 and saved["mqtt"]["keepalive"] == 45
    assert_contract(collector)


def test_repeated_crash_boots_end_in_safe_mode(tmp_path, site, collector):
    # A part the role does not know makes its constructor raise at every boot.
    board = start_node(tmp_path, site, safe_after=3, role={"parts": [{"part": "flux-capacitor"}]})
    try:
        assert wait_until(lambda: collector.of("birth"), 30), board.console_text()
        collector.publish_cmd(site, 1, "status")
        collector.publish_cmd(site, 2, "dim", {"level": 50})
        assert wait_until(lambda: collector.ack_for(1) and collector.ack_for(2), 10)
    finally:
        board.kill()
    birth = collector.of("birth")[0]
    assert birth[17] is True and birth[1] == 4 and birth[14] == []     # three crash boots, then safe
    assert board.resets == 3
    assert collector.ack_for(1)[43] == "ok" and collector.ack_for(2)[43] == "error"
    assert collector.of("status")[0][26] == {}


@pytest.mark.micropython
def test_watchdog_resets_a_board_that_stops_feeding(tmp_path):
    from nodekit import run_micropython
    (tmp_path / "script.py").write_text("")
    with pytest.raises(AssertionError, match=r"failed \(-9\)"):
        run_micropython("import machine, time\nw = machine.WDT(timeout=300)\nw.feed()\ntime.sleep(3)\n"
                        "print('{}')\n", tmp_path)
    assert (tmp_path / ".reset").read_text() == "watchdog"


def test_readings_taken_before_ntp_answered_go_out_with_wall_clock_time(tmp_path, site, collector):
    from firmware.clock import UNSYNCED
    from firmware.ring import Ring
    from nodekit import NtpServer
    ntp = NtpServer(1767225600, delay_s=0.5)      # answers after the first readings are taken
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    (board_dir / "link-down").touch()              # partitioned: readings pile up in the ring
    board = start_node(tmp_path, site, ntp={"host": "127.0.0.1", "port": ntp.port})
    try:
        time.sleep(1.5)
        (board_dir / "link-down").unlink()
        assert wait_until(lambda: len(collector.of("data")) >= 6, 20), board.console_text()
    finally:
        board.kill()
        ntp.close()
    ring = Ring(str(board_dir / "ring"), 8, 32768)
    ring.rewind()
    kinds = []
    while (item := ring.next()) is not None:
        kinds.append(item[3])
    assert kinds[0] == UNSYNCED                     # the first reading predates the NTP answer
    times = [m[3] for m in collector.of("data")]
    assert all(isinstance(t, int) and 1767225600 - 5 <= t < 1767225600 + 60 for t in times), times
    assert times == sorted(times)


def test_luminaire_node_dims_on_command(tmp_path, site, collector):
    board = start_node(tmp_path, site, board="luminaire-controller", status_period=0.5)
    try:
        assert wait_until(lambda: collector.of("data"), 15), board.console_text()
        collector.publish_cmd(site, 1, "dim", {"level": 35})
        assert wait_until(lambda: collector.ack_for(1), 10), board.console_text()
        assert wait_until(lambda: any(s[28].get("dim") == 35 for s in collector.of("status")), 10)
    finally:
        board.kill()
    assert collector.of("birth")[0][10] == "luminaire"
    assert collector.ack_for(1)[43] == "ok"
    assert "MemoryError" not in board.console_text()
    assert_contract(collector)
