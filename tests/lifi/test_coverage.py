"""Gateway side of the LiFi beacons: verification of `lifi-beacon` event details and coverage facts."""

import pytest

from gateway import lifi_coverage as cov
from protocols.lifi import beacon

MASTER = bytes(range(32))
LAMP_A = "a4cf12000001"
LAMP_B = "a4cf12000002"


def signer(lamp, boot=1, master=MASTER):
    return beacon.BeaconSigner(lamp, beacon.derive_lamp_key(master, lamp), boot << 20)


def detail(data, q=0.4):
    return {"b": data, "q": q}


def test_accepted_beacons_build_coverage_facts_per_receiver_and_lamp():
    tracker = cov.LifiCoverage(MASTER)
    a, b = signer(LAMP_A), signer(LAMP_B)
    tracker.observe("rx1", detail(a.next_beacon(), 0.2), now=100.0)
    tracker.observe("rx1", detail(a.next_beacon(), 0.5), now=100.25)
    fact = tracker.observe("rx1", detail(a.next_beacon(), 0.3), now=100.5)
    tracker.observe("rx2", detail(b.next_beacon(), 0.7), now=101.0)
    assert (fact.receiver, fact.lamp, fact.first_seen, fact.last_seen, fact.count, fact.best_quality) == (
        "rx1", LAMP_A, 100.0, 100.5, 3, 0.5)
    assert fact.last_counter == (1 << 20) + 3
    assert [(f.receiver, f.lamp) for f in tracker.facts()] == [("rx1", LAMP_A), ("rx2", LAMP_B)]
    assert [f.receiver for f in tracker.facts(lamp=LAMP_B)] == ["rx2"]
    assert tracker.counts["accepted"] == 4
    assert fact.as_item() == {"receiver": "rx1", "lamp": LAMP_A, "first_seen": 100.0, "last_seen": 100.5,
                              "count": 3, "best_q": 0.5}


def test_forged_replayed_truncated_and_odd_details_are_rejected_with_counted_reasons():
    tracker = cov.LifiCoverage(MASTER)
    a = signer(LAMP_A)
    good = a.next_beacon()
    tracker.observe("rx1", detail(good), now=10.0)
    cases = [
        ("replayed", detail(good), 10.1),                                       # same receiver again
        ("replayed", detail(good), 30.0),                                       # anyone, much later
        ("forged", detail(good[:-1] + bytes([good[-1] ^ 1])), 10.2),            # tag bit flipped
        ("forged", detail(signer(LAMP_A, master=b"another site").next_beacon()), 10.3),
        ("forged", detail(good[:7] + b"\x00\x20\x00\x09" + good[11:]), 10.4),    # counter moved on
        ("truncated", detail(good[:12]), 10.5),
        ("malformed", detail(good + b"\x00"), 10.6),
        ("malformed", detail("Marché de Wazemmes".encode() + b"!"), 10.7),      # a text message, 19 bytes
        ("bad-detail", {"b": good.hex(), "q": 0.3}, 10.8),
        ("bad-detail", detail(good, q=3), 10.9),
        ("bad-detail", None, 11.0),
    ]
    for reason, d, now in cases:
        with pytest.raises(cov.BeaconRejected) as err:
            tracker.observe("rx1" if now < 20 else "rx9", d, now=now)
        assert err.value.reason == reason, (reason, d)
    assert tracker.counts["accepted"] == 1
    for reason in cov.REASONS:
        assert tracker.counts[reason] == sum(1 for r, _, _ in cases if r == reason)
    assert [f.count for f in tracker.facts()] == [1]  # rejections add no coverage


def test_one_beacon_heard_by_two_receivers_at_once_counts_for_both():
    tracker = cov.LifiCoverage(MASTER, simultaneous_s=2.0)
    data = signer(LAMP_A).next_beacon()
    tracker.observe("rx1", detail(data), now=50.0)
    tracker.observe("rx2", detail(data), now=50.3)
    assert tracker.counts["co-observed"] == 1
    with pytest.raises(cov.BeaconRejected):
        tracker.observe("rx2", detail(data), now=50.4)  # rx2 twice: a replay
    with pytest.raises(cov.BeaconRejected):
        tracker.observe("rx3", detail(data), now=53.0)  # too late to be the same light
    assert sorted(f.receiver for f in tracker.facts(lamp=LAMP_A)) == ["rx1", "rx2"]


def test_a_reboot_starts_a_higher_counter_range_and_is_accepted():
    tracker = cov.LifiCoverage(MASTER)
    before, after = signer(LAMP_A, boot=4), signer(LAMP_A, boot=5)
    for i in range(3):
        tracker.observe("rx1", detail(before.next_beacon()), now=float(i))
    tracker.observe("rx1", detail(after.next_beacon()), now=10.0)
    with pytest.raises(cov.BeaconRejected) as err:
        tracker.observe("rx1", detail(signer(LAMP_A, boot=4).next_beacon()), now=11.0)  # old range again
    assert err.value.reason == "replayed"
    assert tracker.facts()[0].count == 4


def test_a_restarted_gateway_restored_from_the_inventory_still_refuses_old_beacons():
    lamp = signer(LAMP_A)
    first = cov.LifiCoverage(MASTER)
    recorded = [lamp.next_beacon() for _ in range(3)]
    for i, data in enumerate(recorded):
        fact = first.observe("rx1", detail(data), now=float(i))
    restarted = cov.LifiCoverage(MASTER)
    restarted.restore(fact.lamp, fact.last_counter)
    for data in recorded:
        with pytest.raises(cov.BeaconRejected) as err:
            restarted.observe("rx1", detail(data), now=10.0)
        assert err.value.reason == "replayed"
    assert restarted.observe("rx1", detail(lamp.next_beacon()), now=11.0).count == 1


def test_lamps_missing_from_the_inventory_are_unknown():
    tracker = cov.LifiCoverage(MASTER, is_known_lamp=lambda lamp: lamp == LAMP_A)
    tracker.observe("rx1", detail(signer(LAMP_A).next_beacon()), now=1.0)
    with pytest.raises(cov.BeaconRejected) as err:
        tracker.observe("rx1", detail(signer(LAMP_B).next_beacon()), now=1.1)
    assert err.value.reason == "unknown-lamp" and tracker.counts["unknown-lamp"] == 1


def test_bounded_tables_drop_the_least_recent_and_count_it():
    tracker = cov.LifiCoverage(MASTER, max_facts=2, max_recent=2, simultaneous_s=100.0)
    lamps = [f"a4cf120000{i:02x}" for i in range(4)]
    for i, lamp in enumerate(lamps):
        tracker.observe("rx1", detail(signer(lamp).next_beacon()), now=float(i))
    assert [f.lamp for f in tracker.facts()] == lamps[2:]
    assert tracker.counts["facts-evicted"] == 2 and tracker.counts["recent-evicted"] == 2


def test_merge_items_replaces_the_same_pair_and_keeps_others():
    tracker = cov.LifiCoverage(MASTER)
    s = signer(LAMP_A)
    first = tracker.observe("rx1", detail(s.next_beacon(), 0.1), now=1.0).as_item()
    other = {"receiver": "rx7", "lamp": LAMP_A, "first_seen": 0.0, "last_seen": 0.5, "count": 2, "best_q": 0.9}
    items = cov.merge_items([other, first], tracker.observe("rx1", detail(s.next_beacon(), 0.6), now=2.0))
    assert items[0] == other
    assert items[1]["count"] == 2 and items[1]["best_q"] == 0.6 and items[1]["last_seen"] == 2.0
    assert len(items) == 2


def test_empty_master_key_is_refused():
    with pytest.raises(ValueError):
        cov.LifiCoverage(b"")
