"""IngestCore against both stores: routing, dedup, lifecycle, quarantine, spoofing and hostile input."""

from __future__ import annotations

import json
import random

import cbor2
import pytest
from gw_support import NOW, birth, config, data, death, mac_node, store, store_url, topic  # noqa: F401

from gateway.counters import Counters
from gateway.ingest import IngestCore

SITE = "lille-fives"


def core_for(store, **changes):  # noqa: F811
    counters = Counters()
    return IngestCore(store, counters, config(**changes)), counters


def outbox(store):  # noqa: F811
    return [(item.kind, json.loads(item.payload)) for item in store.fetch("probe", 100000)]


def test_active_device_data_reaches_the_outbox_once(store):  # noqa: F811
    core, counters = core_for(store, auto_approve=True)
    node = mac_node(1)
    assert core.handle(topic(SITE, node, "birth"), birth(node=node), NOW) == "ok"
    for seq in range(5):
        assert core.handle(topic(SITE, node, "data"), data(1, seq), NOW + seq) == "ok"
    assert core.handle(topic(SITE, node, "data"), data(1, 3), NOW + 9) == "duplicate"
    assert core.commit(NOW + 10) == []
    items = outbox(store)
    observations = [payload for kind, payload in items if kind == "observation"]
    assert [o["seq"] for o in observations] == [0, 1, 2, 3, 4]
    first = observations[0]
    assert first["node_id"] == node and first["site"] == SITE and first["role"] == "sensor"
    assert first["time"] == NOW and first["records"][0] == {"n": "temp", "u": "Cel", "v": 21.5, "t": NOW}
    assert [kind for kind, _ in items].count("device") == 1
    assert counters.value("messages_ingested_total") == 6
    assert counters.value("duplicates_total") == 1
    record = store.get_device(node)
    assert record["state"] == "active" and record["liveness"] == "online" and record["boot"] == 1
    assert (
        record["received"] == 5 and record["duplicates"] == 1 and record["hw"]["mac"] == "a0:b1:c2:00:00:01"
    )


def test_dedup_survives_a_restart(store):  # noqa: F811
    node = mac_node(2)
    core, _ = core_for(store, auto_approve=True)
    core.handle(topic(SITE, node, "birth"), birth(node=node), NOW)
    for seq in range(3):
        core.handle(topic(SITE, node, "data"), data(1, seq), NOW)
    core.commit(NOW)
    restarted, counters = core_for(store, auto_approve=True)
    outcomes = [restarted.handle(topic(SITE, node, "data"), data(1, seq), NOW + 1) for seq in range(5)]
    restarted.commit(NOW + 1)
    assert outcomes == ["duplicate", "duplicate", "duplicate", "ok", "ok"]
    assert counters.value("duplicates_total") == 3
    assert [p["seq"] for k, p in outbox(store) if k == "observation"] == [0, 1, 2, 3, 4]


def test_replay_out_of_order_and_from_an_earlier_boot_is_kept(store):  # noqa: F811
    node = mac_node(3)
    core, _ = core_for(store, auto_approve=True)
    core.handle(topic(SITE, node, "birth"), birth(boot=1, node=node), NOW)
    core.handle(topic(SITE, node, "data"), data(1, 0), NOW)
    core.handle(topic(SITE, node, "birth"), birth(boot=2, node=node, buffered=3), NOW + 5)
    core.handle(topic(SITE, node, "data"), data(2, 0), NOW + 6)
    core.handle(topic(SITE, node, "data"), data(1, 2), NOW + 7)  # buffered reading of boot 1, replayed late
    core.handle(topic(SITE, node, "data"), data(1, 1), NOW + 7)
    assert core.handle(topic(SITE, node, "data"), data(1, 2), NOW + 8) == "duplicate"
    core.commit(NOW + 8)
    seen = [(p["boot"], p["seq"]) for k, p in outbox(store) if k == "observation"]
    assert seen == [(1, 0), (2, 0), (1, 2), (1, 1)]
    events = [row["event"] for row in store.history(node)]
    assert events[:3] == ["registered", "first-birth", "liveness"] and "reboot" in events


def test_unknown_device_is_pending_and_its_data_held_until_approved(store):  # noqa: F811
    node = mac_node(4)
    core, counters = core_for(store)
    core.handle(topic(SITE, node, "birth"), birth(node=node), NOW)
    for seq in range(3):
        core.handle(topic(SITE, node, "data"), data(1, seq), NOW)
    core.commit(NOW)
    assert outbox(store) == [] and store.get_device(node)["state"] == "pending"
    assert counters.value("messages_held_total") == 3
    store.approve(node)
    core.handle(topic(SITE, node, "data"), data(1, 3), NOW + 1)
    core.commit(NOW + 1)
    items = outbox(store)
    assert [p["seq"] for k, p in items if k == "observation"] == [0, 1, 2, 3]
    assert [k for k, _ in items].count("device") == 1  # the approval announces the device
    store.retire(node)
    assert core.handle(topic(SITE, node, "data"), data(1, 4), NOW + 2) == "retired-device"


def test_data_before_birth_and_unexplained_gap_ask_for_rebirth(store):  # noqa: F811
    node = mac_node(5)
    core, counters = core_for(store, auto_approve=True, rebirth_interval_s=0)
    core.handle(topic(SITE, node, "data"), data(1, 7), NOW)
    requests = core.commit(NOW)
    assert [(r.topic, r.reason) for r in requests] == [(topic(SITE, node, "cmd"), "data-before-birth")]
    assert cbor2.loads(requests[0].payload)[41] == "rebirth"
    core.handle(topic(SITE, node, "birth"), birth(node=node, seq=8, buffered=2), NOW + 1)
    core.handle(topic(SITE, node, "data"), data(1, 10), NOW + 2)  # gap of 2: explained by 2 buffered
    assert core.commit(NOW + 2) == []
    core.handle(topic(SITE, node, "data"), data(1, 20), NOW + 3)  # gap of 9: not explained
    assert [r.reason for r in core.commit(NOW + 3)] == ["sequence-gap"]
    assert counters.value("rebirth_requests_total", reason="sequence-gap") == 1
    assert store.get_device(node)["gaps"] == 9


def test_death_of_a_stale_boot_is_ignored(store):  # noqa: F811
    node = mac_node(6)
    core, _ = core_for(store, auto_approve=True)
    core.handle(topic(SITE, node, "birth"), birth(boot=4, node=node), NOW)
    core.handle(topic(SITE, node, "death"), death(3), NOW + 1)
    core.commit(NOW + 1)
    assert store.get_device(node)["liveness"] == "online"
    core.handle(topic(SITE, node, "death"), death(4), NOW + 2)
    core.commit(NOW + 2)
    assert store.get_device(node)["liveness"] == "offline"
    assert [r["event"] for r in store.history(node)][-2:] == ["death", "liveness"]


def test_spoofed_node_id_is_rejected_and_counted(store):  # noqa: F811
    core, counters = core_for(store, auto_approve=True)
    victim, intruder = mac_node(7), mac_node(8)
    core.handle(topic(SITE, victim, "birth"), birth(node=victim), NOW)
    # A board publishing a birth under another node's id: its own MAC gives it away.
    assert core.handle(topic(SITE, victim, "birth"), birth(node=intruder), NOW + 1) == "node-id-mismatch"
    core.commit(NOW + 1)
    assert counters.value("messages_rejected_total", reason="node-id-mismatch") == 1
    assert store.get_device(victim)["hw"]["mac"] == "a0:b1:c2:00:00:07"


def test_swapped_board_is_refused_until_the_operator_forgets_the_old_one(store):  # noqa: F811
    core, counters = core_for(store, auto_approve=True)
    node = "lamp-17"  # an id that is not a MAC: only the inventory's record can tell the boards apart
    core.handle(topic(SITE, node, "birth"), birth(), NOW)  # first board, no MAC declared
    core.commit(NOW)
    first = cbor2.loads(birth(node=mac_node(20)))
    second = cbor2.loads(birth(node=mac_node(21)))
    assert core.handle(topic(SITE, node, "birth"), cbor2.dumps(first), NOW + 1) == "ok"
    assert core.handle(topic(SITE, node, "birth"), cbor2.dumps(second), NOW + 2) == "hw-mismatch"
    core.commit(NOW + 2)
    store.forget_hardware(node)
    assert core.handle(topic(SITE, node, "birth"), cbor2.dumps(second), NOW + 3) == "ok"
    core.commit(NOW + 3)
    assert store.get_device(node)["hw"]["mac"] == "a0:b1:c2:00:00:15"
    assert counters.value("messages_rejected_total", reason="hw-mismatch") == 1


def test_hostile_input_is_counted_by_reason_and_never_raises(store):  # noqa: F811
    core, counters = core_for(store, auto_approve=True, max_payload_bytes=2048)
    node = mac_node(9)
    rng = random.Random(4)
    valid = data(1, 1)
    cases = [
        (topic(SITE, node, "data"), b"\xff\x00garbage"),  # not CBOR
        (topic(SITE, node, "data"), valid[:-3]),  # truncated
        (topic(SITE, node, "data"), b"\x81" * 100 + b"\x00"),  # too deep
        (topic(SITE, node, "data"), b"\x5b\x7f\xff\xff\xff\xff\xff\xff\xff"),  # huge declared length
        (topic(SITE, node, "data"), b"\x00" * 5000),  # too large
        (topic(SITE, node, "data"), cbor2.dumps([1, 2])),  # not a map
        (topic(SITE, node, "data"), cbor2.dumps({1: "one", 2: 0, 3: 1, 4: []})),  # wrong types
        (topic(SITE, node, "bogus"), valid),  # unknown channel
        (topic(SITE, "Bad_Node", "data"), valid),  # node id breaks the syntax
        ("rvb/v2/x/y/data", valid),
    ]
    for _ in range(3000):
        blob = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        cases.append(
            (topic(SITE, node, rng.choice(["data", "birth", "status", "evt", "ack", "death"])), bytes(blob))
        )
    for _ in range(500):
        cases.append((topic(SITE, node, "data"), rng.randbytes(rng.randint(0, 64))))
    outcomes = [core.handle(t, p, NOW) for t, p in cases]
    core.commit(NOW)
    assert outcomes[:10] == [
        "cbor",
        "cbor",
        "cbor",
        "cbor",
        "too-large",
        "not-a-map",
        "bad-value",
        "topic",
        "topic",
        "topic",
    ]
    rejected = counters.snapshot()["messages_rejected_total"]
    accepted = outcomes.count("ok") + outcomes.count("duplicate") + outcomes.count("ignored")
    assert sum(rejected.values()) + accepted == len(cases)
    assert counters.value("messages_rejected_total", reason="cbor") > 1000


def test_preloaded_cache_sees_devices_imported_while_running(store):  # noqa: F811
    from gateway.inventory.csv_io import import_csv

    node = mac_node(10)
    core, _ = core_for(store)
    assert core.preload() == 0
    import_csv(store, "id,site,state\n%s,%s,active\n" % (node, SITE))
    core.handle(topic(SITE, node, "birth"), birth(node=node), NOW)
    core.handle(topic(SITE, node, "data"), data(1, 0), NOW)
    core.commit(NOW)
    assert [p["seq"] for k, p in outbox(store) if k == "observation"] == [0]
    restarted, _ = core_for(store)
    assert restarted.preload() == 1
    assert restarted.handle(topic(SITE, node, "data"), data(1, 0), NOW) == "duplicate"


def test_routine_statistics_are_written_at_the_flush_interval(store):  # noqa: F811
    from gateway.ingest import DEVICE_FLUSH_S

    node = mac_node(11)
    core, _ = core_for(store, auto_approve=True)
    core.handle(topic(SITE, node, "birth"), birth(node=node), NOW)
    core.commit(NOW)
    core.handle(topic(SITE, node, "data"), data(1, 0), NOW + 1)
    core.commit(NOW + 1)
    assert store.get_device(node)["received"] == 0  # not yet due
    core.handle(topic(SITE, node, "data"), data(1, 1), NOW + DEVICE_FLUSH_S + 1)
    core.commit(NOW + DEVICE_FLUSH_S + 1)
    record = store.get_device(node)
    assert record["received"] == 2 and record["last_seen"] == NOW + DEVICE_FLUSH_S + 1
    assert record["next_seq"] == 2


def test_fast_pack_resolution_agrees_with_senml_resolve():
    from gateway.ingest import resolve_pack
    from protocols import senml

    plain = [{0: "temp", 1: "Cel", 2: 21.5}, {0: "hum", 2: 40}]
    based = [{-2: "x:", -3: 10, 0: "temp", 1: "Cel", 2: 21.5, 6: 5}, {0: "hum", 2: 40.0}]
    for pack in (plain, based):
        assert resolve_pack(pack, NOW) == senml.resolve(pack, NOW)


def test_a_failed_commit_keeps_nothing_and_state_is_read_back(store):  # noqa: F811
    from gateway.inventory.store import StoreError

    node = mac_node(12)
    core, _ = core_for(store, auto_approve=True)
    core.preload()
    core.handle(topic(SITE, node, "birth"), birth(node=node), NOW)
    core.handle(topic(SITE, node, "data"), data(1, 0), NOW)
    core.commit(NOW)
    original = store.commit_batch

    def failing(*args, **kwargs):
        raise StoreError("disk full")

    store.commit_batch = failing
    core.handle(topic(SITE, node, "data"), data(1, 1), NOW + 1)
    with pytest.raises(StoreError):
        core.commit(NOW + 1)
    store.commit_batch = original
    # The broker delivers the unacknowledged message again: it is new, the committed one is not.
    assert core.handle(topic(SITE, node, "data"), data(1, 0), NOW + 2) == "duplicate"
    assert core.handle(topic(SITE, node, "data"), data(1, 1), NOW + 2) == "ok"
    core.commit(NOW + 2)
    assert [p["seq"] for k, p in outbox(store) if k == "observation"] == [0, 1]


def test_lifi_beacons_are_verified_and_recorded_as_coverage_on_both_rows(store):  # noqa: F811
    from protocols import messages
    from protocols.lifi.beacon import BeaconSigner, derive_lamp_key

    master = bytes(range(32))
    core, counters = core_for(store, auto_approve=True, lifi_master_key=master.hex())
    lamp, receiver = mac_node(7), mac_node(8)
    core.handle(topic(SITE, lamp, "birth"), birth(node=lamp, role="luminaire"), NOW)
    core.handle(topic(SITE, receiver, "birth"), birth(node=receiver, role="lifi-rx"), NOW)
    signer = BeaconSigner(lamp, derive_lamp_key(master, lamp), counter=1 << 20)
    beacon = bytes(signer.next_beacon())

    def report(seq, frame):
        message = messages.evt(1, seq, int(NOW) + seq, "lifi-beacon", {"b": frame, "q": 0.9})
        return core.handle(topic(SITE, receiver, "evt"), cbor2.dumps(message), NOW + seq)

    assert report(0, beacon) == "ok"
    assert report(1, beacon) == "ok"  # the same beacon again from the same receiver: a replay
    forged = beacon[:-1] + bytes([beacon[-1] ^ 1])
    assert report(2, forged) == "ok"  # the event itself is valid; the beacon inside is refused
    core.commit(NOW + 5)
    heard = store.get_device(receiver)["lifi"]
    assert [(item["receiver"], item["lamp"], item["count"]) for item in heard] == [(receiver, lamp, 1)]
    assert store.get_device(lamp)["lifi"] == heard
    assert counters.value("lifi_beacons_rejected_total", reason="replayed") == 1
    assert counters.value("lifi_beacons_rejected_total", reason="forged") == 1


def test_statistics_and_tick_events_are_due_without_further_traffic(store):  # noqa: F811
    core, _ = core_for(store, auto_approve=True)
    node = mac_node(0x51)
    core.handle(topic(SITE, node, "birth"), birth(node=node), NOW)
    core.commit(NOW)  # the first commit writes everything
    core.handle(topic(SITE, node, "data"), data(1, 0), NOW + 1)
    core.commit(NOW + 1)  # routine statistics wait up to DEVICE_FLUSH_S
    assert store.get_device(node)["received"] == 0
    assert not core.due(NOW + 2)
    assert core.due(NOW + 6)  # the shell commits on its tick even if no message comes
    core.commit(NOW + 6)
    assert store.get_device(node)["received"] == 1 and not core.due(NOW + 7)
    core.tick(NOW + 60 * 3 + 5)  # silent for 3 periods: stale, an event staged for the next commit
    assert core.due(NOW + 60 * 3 + 5)
    core.commit(NOW + 60 * 3 + 5)
    assert store.get_device(node)["liveness"] == "stale"


def test_unsynced_readings_received_together_keep_distinct_times(store):  # noqa: F811
    """A replayed unsynced backlog arrives in one read: the platform tells readings apart by time, so
    each reading of the device is placed a millisecond after the one before."""
    core, _ = core_for(store, auto_approve=True)
    node = mac_node(7)
    core.handle(topic(SITE, node, "birth"), birth(node=node), NOW)
    for seq in range(4):
        assert core.handle(topic(SITE, node, "data"), data(1, seq, when=[1000 * seq]), NOW) == "ok"
    assert core.handle(topic(SITE, node, "data"), data(1, 4, when=[9000]), NOW + 5) == "ok"
    core.commit(NOW + 5)
    observations = [payload for kind, payload in outbox(store) if kind == "observation"]
    times = [o["records"][0]["t"] for o in observations]
    assert times == pytest.approx([NOW, NOW + 0.001, NOW + 0.002, NOW + 0.003, NOW + 5])
    assert all(o["time"] is None for o in observations)
