"""A LiFi beacon accepted before a gateway restart is still refused as a replay after it: the daemon restores
the beacon replay windows from the coverage its inventory kept."""

from __future__ import annotations

import threading
import time

import cbor2
import paho.mqtt.client as mqtt
from gw_support import birth, config, mac_node, topic, unique

from gateway.daemon import Daemon
from gateway.errors import NotFound
from protocols import messages
from protocols.lifi.beacon import BeaconSigner, derive_lamp_key

MASTER = bytes(range(32))


def _run_daemon(db: str, site: str) -> tuple[Daemon, threading.Thread]:
    daemon = Daemon(
        config(
            db=db,
            sites=(site,),
            client_id=unique("gw-lifi-"),
            session_expiry_s=0,
            auto_approve=True,
            lifi_master_key=MASTER.hex(),
        )
    )
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    _wait(lambda: daemon.ingest is not None and daemon.ingest.wait_subscribed(0.1), "subscribed")
    return daemon, runner


def _coverage(daemon: Daemon, node: str) -> list[dict]:
    try:
        return daemon.store.get_device(node)["lifi"] or []
    except NotFound:
        return []


def _wait(condition, what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def _publish(items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("pub-"))
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        for name, payload in items:
            client.publish(name, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_beacon_replayed_after_a_restart_is_rejected_and_counted(tmp_path):
    site, lamp, receiver = unique("lifi-"), mac_node(0x701), mac_node(0x702)
    db = "sqlite:///%s" % (tmp_path / "inventory.db")
    signer = BeaconSigner(lamp, derive_lamp_key(MASTER, lamp), counter=1 << 20)
    heard = bytes(signer.next_beacon())

    def report(seq: int, frame: bytes) -> tuple[str, bytes]:
        event = messages.evt(1, seq, int(time.time()), "lifi-beacon", {"b": frame, "q": 0.8})
        return topic(site, receiver, "evt"), cbor2.dumps(event)

    daemon, runner = _run_daemon(db, site)
    try:
        _publish(
            [
                (topic(site, lamp, "birth"), birth(node=lamp, role="luminaire")),
                (topic(site, receiver, "birth"), birth(node=receiver, role="lifi-rx")),
                report(0, heard),
            ]
        )
        _wait(lambda: _coverage(daemon, receiver), "the coverage on the receiver's row")
        assert daemon.counters.total("lifi_beacons_rejected_total") == 0
    finally:
        daemon.stop()
        runner.join(15)

    daemon, runner = _run_daemon(db, site)
    try:
        fresh = bytes(signer.next_beacon())
        # A new event (seq 1, not a duplicate message) carrying the old beacon, then a new beacon.
        _publish([report(1, heard), report(2, fresh)])
        _wait(lambda: daemon.counters.total("messages_ingested_total") >= 2, "both events ingested")
        assert daemon.counters.value("lifi_beacons_rejected_total", reason="replayed") == 1
        _wait(lambda: _coverage(daemon, receiver)[0]["count"] == 2, "the fresh beacon recorded")
        # The fresh beacon was accepted (the restored window is not too wide) and the count carried on.
        assert {item["lamp"]: item["count"] for item in _coverage(daemon, receiver)} == {lamp: 2}
    finally:
        daemon.stop()
        runner.join(15)
