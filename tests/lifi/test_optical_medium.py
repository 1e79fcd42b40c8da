"""The optical medium's parts (sim/lifi/medium.py) and the board ends' wire format (sim/devices/optical.py),
under CPython: geometry, the lamp's drive during and between transmissions, the channel's ADC codes, the
datagrams, the bounds, and a beacon carried from a transmitter to a receiver through real UDP sockets."""

import struct
import time

import numpy as np
import pytest

from firmware.lifi_seam import FrameCodec, Receiver, Transmitter
from protocols.lifi import beacon
from sim.devices import optical as wire
from sim.devices.optical import OpticalRx, OpticalTx
from sim.lifi import medium
from sim.lifi.medium import LampSpec, LampState, OpticalMedium, ReceiverSpec, Transmission
from sim.lifi.street import OpticalStreet, board_mac, books, master_key

T0 = 1_800_000_000 * 10**9


def _state(rx: ReceiverSpec, lamps: list[LampSpec]):
    return medium._receiver_state(rx, lamps, seed=1)


def test_gain_is_highest_under_the_lamp_and_zero_outside_the_field_of_view():
    lamp = LampSpec("l", x_m=0.0)
    under, aside, outside = (medium.gain(lamp, ReceiverSpec("r", x_m=x)) for x in (0.0, 8.0, 25.0))
    assert under > aside > 0.0
    assert outside == 0.0  # 25 m off a 7 m drop: 74 degrees, past the 70 degree field of view


def test_lamp_drive_is_its_duty_on_on_pulses_dark_on_off_pulses_and_steady_between():
    rate = 16000
    times = np.arange(64) / rate
    # 4 pulses of 2 samples each (ON first) starting 8 samples in
    tx = Transmission(T0 + 8 * 62_500, 1_000_000, 1, 0.5, np.array([125, 125, 125, 125]))
    x = medium.lamp_intensity(times + 1e-6, T0, 0.8, [tx])  # sampled 1 us after the grid: clear of edges
    assert x[:8].tolist() == [0.8] * 8
    assert x[8:16].tolist() == [0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0]
    assert x[16:].tolist() == [0.8] * 48
    assert tx.end_ns == T0 + 8 * 62_500 + 500_000


def test_render_gives_adc_codes_with_the_signal_swing_and_clips_in_daylight():
    lamp = LampSpec("l", x_m=0.0)
    rx = _state(ReceiverSpec("r", x_m=1.0, mains_lux=0.0), [lamp])
    lamps = {"l": LampState(lamp, duty=1.0)}
    lamps["l"].transmissions.append(Transmission(T0, 16000, 0, 1.0, np.array([50, 50, 50, 50])))
    codes = medium.render(rx, lamps, T0, 400, np.random.default_rng(1))
    assert codes.dtype == np.uint16
    dark, lit = codes[10:40], codes[60:90]  # an OFF pulse, then an ON one (sample n at n/16 kHz)
    assert lit.mean() - dark.mean() > 8000  # about a quarter of the ADC's range at night
    rx.lux = 100_000.0  # full sun on the photodiode: the transimpedance stage saturates
    assert (medium.render(rx, lamps, T0, 100, np.random.default_rng(1)) == 0xFFFF).all()


def test_datagrams_round_trip_and_garbage_is_refused():
    durations = np.array([3, 65535, 7])
    data = (struct.pack(wire.TX_HEAD, wire.PULSES, 9, T0, 20_000_000, 32768, 1, 3) + b"lum"
            + durations.astype("<u2").tobytes())
    lamp, kind, seq, start, tick_hz, duty, level, got = medium.parse_tx(data)
    assert (lamp, kind, seq, start, tick_hz, level) == ("lum", wire.PULSES, 9, T0, 20_000_000, 1)
    assert duty == pytest.approx(0.5, abs=1e-4) and got.tolist() == [3, 65535, 7]
    with pytest.raises(ValueError):
        medium.parse_tx(b"RVBX" + data[4:])
    with pytest.raises(ValueError):
        medium.parse_tx(data[:10])
    hello = wire.HELLO + struct.pack(wire.HELLO_BODY, 12.5, 4, 0, 2, 1, 2) + b"rx"
    assert medium.parse_hello(hello) == ("rx", 12.5, {"blocks_read": 4, "gaps": 0, "misses": 2, "bursts": 1})
    block = medium.pack_samples(5, T0, 16000, np.arange(wire.MAX_SAMPLES, dtype=np.uint16))
    assert len(block) == wire.RX_HEAD_SIZE + 2 * wire.MAX_SAMPLES
    assert struct.unpack_from(wire.RX_HEAD, block) == (wire.SAMPLES, 5, T0 // 1000, 16000, wire.MAX_SAMPLES)


def test_bounds_drop_the_oldest_transmission_and_count_late_lost_and_bad_datagrams():
    m = OpticalMedium([LampSpec("lum", 0.0)], [ReceiverSpec("rx", 1.0)])
    try:
        def pulses(seq, start_ns):
            return (struct.pack(wire.TX_HEAD, wire.PULSES, seq, start_ns, 1_000_000, 65535, 1, 3) + b"lum"
                    + np.array([100, 100], dtype="<u2").tobytes())
        for seq in range(1, medium.MAX_TRANSMISSIONS + 3):
            m._tx(pulses(seq, T0 + seq * 1_000_000))
        lamp = m.lamps["lum"]
        assert len(lamp.transmissions) == medium.MAX_TRANSMISSIONS and lamp.evicted == 2
        assert lamp.transmissions[0].start_ns == T0 + 3 * 1_000_000  # the oldest went first
        m._tx(pulses(100, T0))  # 30 datagrams never arrived
        assert lamp.lost == 100 - (medium.MAX_TRANSMISSIONS + 2) - 1
        # a receiver already rendered past a transmission's start: it comes too late
        m.receivers["rx"].addr = ("127.0.0.1", 9)
        m.receivers["rx"].origin_ns = T0 + 10**9
        m._tx(pulses(101, T0))
        assert lamp.late == 1
        m.sock.sendto(b"nonsense", ("127.0.0.1", m.port))
        time.sleep(0.05)
        m.receive(time.time_ns())
        assert m.counts["bad"] == 1
    finally:
        m.close()


def test_a_beacon_goes_from_an_rmt_write_through_the_medium_to_a_receivers_adc():
    """The board ends under CPython against a medium stepped by hand: the transmitter's datagrams, the
    rendered stream and the receiver's burst reads decode to the beacon the luminaire signed."""
    m = OpticalMedium([LampSpec("lum", 0.0)], [ReceiverSpec("rx", 1.0), ReceiverSpec("far", 40.0)], margin_ms=50)
    try:
        spec = {"medium": ["127.0.0.1", m.port], "delay_ms": 600, "rate": 16000}
        near = OpticalRx(dict(spec, id="rx"), lambda: 0.02, lambda: 3.0)
        far = OpticalRx(dict(spec, id="far"), lambda: 0.02, lambda: 3.0)
        for rx in (near, far):
            rx.volts()  # says hello: the medium streams to it from now on
        time.sleep(0.05)
        m.step()
        tx = OpticalTx(dict(spec, id="lum"), lambda: 52000)

        class Rmt:
            def __init__(self, clock_div):
                self.clock_div = clock_div

            def write_pulses(self, durations, level=True):
                tx.pulses(durations, level, 80_000_000 // self.clock_div)

        transmitter = Transmitter(Rmt, 8000, FrameCodec("ook-100k"))
        signer = beacon.BeaconSigner(b"\xa4\xcf\x12\x00\x00\x07", b"k" * 32, 1 << 20)
        sent = signer.next_beacon()
        transmitter.send_chunked(FrameCodec("ook-100k").chips(sent))  # ~175 ms on air from now
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            time.sleep(0.01)
            m.step()
        got = {}
        for name, rx in (("rx", near), ("far", far)):
            rx._read_ms -= 1000  # a new burst: from the light of now - delay, before the frame started
            samples = bytearray(min(65535, int(rx.volts() / 3.3 * 65535)) >> 8 for _ in range(6000))
            got[name] = [payload for payload, _ in Receiver(2).feed(samples)]
        assert got == {"rx": [sent], "far": []}
        assert near.gaps == 0 and near.blocks > 0
        assert m.lamps["lum"].late == 0 and m.lamps["lum"].lost == 0
    finally:
        m.close()


def test_street_places_receivers_under_lamps_and_keys_lamps_by_mac(tmp_path):
    street = OpticalStreet.along(tmp_path, master_key(3), [("lum-000", "luminaire"), ("lum-001", "luminaire"),
                                                           ("rx-000", "lifi-rx"), ("rx-001", "lifi-rx"),
                                                           ("node-000", "sensor")])
    assert street.covered_by("rx-000") == ["lum-000"] and street.covered_by("rx-001") == ["lum-001"]
    assert street.lamp_key(tmp_path / "lum-000") == beacon.derive_lamp_key(master_key(3), board_mac(tmp_path / "lum-000"))
    assert street.key_file().read_text() == master_key(3).hex()
    assert master_key(3) != master_key(4)


def test_books_sum_what_the_boards_reported_and_the_inventory_recorded():
    statuses = {"lum-0": ("luminaire", {"lifi_beacons": 40}), "lum-1": ("luminaire", {"lifi_beacons": 38}),
                "rx-0": ("lifi-rx", {"decoded": 9, "errors": 1}), "node-0": ("sensor", {})}
    rows = [("rx-0", "lifi-rx", [{"receiver": "rx-0", "lamp": "a4cf12000001", "count": 8}]),
            ("lum-0", "luminaire", [{"receiver": "rx-0", "lamp": "a4cf12000001", "count": 8}]),
            ("lum-1", "luminaire", [])]
    assert books(statuses, rows) == {"beacons_sent": 78, "beacons_decoded": 9, "beacons_verified": 8,
                                     "luminaires_covered": 1}
    assert books(statuses, rows, verified=9)["beacons_verified"] == 9
