"""The gateway's MQTT reader (`IngestClient`) against a real broker: its fast path for plain QoS-1 PUBLISHes,
paho's path for everything else (properties, RETAIN, QoS 0), packets larger than one socket read, and the
acknowledgements of a batch sent in one write (with a receive maximum of 2, a missing PUBACK stalls the
broker, and the test)."""

from __future__ import annotations

import threading
import time

import cbor2
import paho.mqtt.client as mqtt
from gw_support import birth, config, data, mac_node, private_broker, topic, unique
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.counters import Counters
from gateway.ingest import READ_CHUNK, IngestCore, MqttIngest
from gateway.inventory import open_store


def test_reader_frames_every_kind_of_publish_and_acknowledges_each(tmp_path):
    site, node = unique("rd-"), mac_node(0x801)
    with private_broker(tmp_path) as port:
        settings = config(
            db="sqlite:///%s" % (tmp_path / "inventory.db"),
            broker="mqtt://127.0.0.1:%d" % port,
            sites=(site,),
            client_id=unique("gw-rd-"),
            auto_approve=True,
            receive_maximum=2,
            max_payload_bytes=4 * READ_CHUNK,
        )
        store = open_store(settings.db)
        counters = Counters()
        ingest = MqttIngest(IngestCore(store, counters, settings), settings)
        stop = threading.Event()
        runner = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
        runner.start()
        try:
            assert ingest.wait_subscribed(10)
            publisher = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id=unique("p-"), protocol=mqtt.MQTTv5
            )
            publisher.connect("127.0.0.1", port)
            publisher.loop_start()
            with_property = Properties(PacketTypes.PUBLISH)
            with_property.UserProperty = ("origin", "test")
            pack = [{0: "temp", 1: "Cel", 2: 1.0}]
            huge = cbor2.dumps({1: 1, 2: 50, 3: int(time.time()), 4: pack, 99: b"x" * (2 * READ_CHUNK)})
            sends = [
                (topic(site, node, "birth"), birth(node=node), 1, False, None),
                *[(topic(site, node, "data"), data(1, seq), 1, False, None) for seq in range(40)],
                (topic(site, node, "data"), data(1, 40), 1, False, with_property),  # paho's path
                (topic(site, node, "data"), data(1, 41), 1, True, None),  # RETAIN: paho's path
                (topic(site, node, "data"), data(1, 42), 0, False, None),  # QoS 0: paho's path, no PUBACK
                (topic(site, node, "data"), huge, 1, False, None),  # spans several socket reads
                (topic(site, node, "data"), data(1, 43), 1, False, None),
            ]
            for name, payload, qos, retain, properties in sends:
                publisher.publish(name, payload, qos=qos, retain=retain, properties=properties)
            deadline = time.time() + 20
            while time.time() < deadline and counters.total("messages_ingested_total") + counters.total(
                "messages_rejected_total"
            ) < len(sends):
                time.sleep(0.05)
            publisher.disconnect()
            publisher.loop_stop()
        finally:
            stop.set()
            runner.join(10)
        ingest.core.close(time.time())  # what the daemon does at shutdown: the latest statistics
        # 1 birth + 44 data readings ingested; the huge payload is a data map with a key the contract refuses.
        assert counters.total("messages_ingested_total") == 45
        assert counters.total("messages_rejected_total") == 1
        assert counters.value("messages_rejected_total", reason="cbor") == 0  # framed whole, decoded whole
        assert store.get_device(node)["received"] == 44
