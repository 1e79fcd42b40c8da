"""The load generator sends what it declares; the report's figures come out right from known rows."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid

import cbor2
import paho.mqtt.client as mqtt
import pytest
from api_support import wait_for

from gateway.errors import InvalidInput
from gateway.report import compute, render
from protocols import messages, topics
from sim import load


class Counter:
    def __init__(self, site: str) -> None:
        self.by_channel: dict[str, int] = {}
        self.seqs: dict[str, list[int]] = {}
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id="t-count-" + uuid.uuid4().hex[:8],
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe("rvb/v1/%s/+/+" % site, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()
        assert self.subscribed.wait(20)

    def _on_message(self, client, userdata, message) -> None:
        _, node, channel = topics.parse(message.topic)
        payload = cbor2.loads(message.payload)
        messages.validate(channel, payload)
        self.by_channel[channel] = self.by_channel.get(channel, 0) + 1
        if channel == "data":
            self.seqs.setdefault(node, []).append(payload[messages.SEQ])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_load_generator_sends_the_declared_count():
    site = "load" + uuid.uuid4().hex[:8]
    counter = Counter(site)
    try:
        result = load.run("mqtt://127.0.0.1:1883", nodes=7, rate=400, duration_s=0.5, site=site)
        assert (result.sent, result.births, result.data, result.acked) == (207, 7, 200, 207)
        wait_for(lambda: sum(counter.by_channel.values()) == 207, what="all messages")
    finally:
        counter.close()
    assert counter.by_channel == {"birth": 7, "data": 200}
    assert len(counter.seqs) == 7
    assert all(seqs == list(range(len(seqs))) for seqs in counter.seqs.values())  # dense, from 0


def test_sim_load_command_json():
    site = "load" + uuid.uuid4().hex[:8]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli.main",
            "sim",
            "load",
            "--nodes",
            "3",
            "--rate",
            "100",
            "--duration",
            "0.3",
            "--site",
            site,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["sent"] == 33 and figures["nodes"] == 3 and figures["duration_s"] > 0


def _row(
    node, site, state="active", liveness="online", created=1_700_000_000.0, received=10, lon=None, lat=None
):
    return {
        "id": node,
        "site": site,
        "state": state,
        "liveness": liveness,
        "role": "sensor",
        "caps": [["temp", "Cel", 60], ["hum", "%RH", 60]],
        "period": 60,
        "created": created,
        "first_seen": 1_700_000_000.0,
        "last_seen": 1_700_000_000.0 + 60 * 19,
        "received": received,
        "lon": lon,
        "lat": lat,
    }


def test_report_figures_and_html():
    rows = [
        _row("n1", "north", received=20, lon=3.06, lat=50.63),
        _row("n2", "north", liveness="offline", received=10, created=1_700_000_000.0 + 86400),
        _row("s1", "south", state="pending", liveness="online", received=20),
    ]
    day = 86400.0
    events = [
        ("n1", 1_700_000_000.0, "pending"),
        ("n1", 1_700_000_100.0, "active"),
        ("s1", 1_700_000_000.0 + day, "pending"),
        ("n1", 1_700_000_000.0 + day, None),  # an edit
        ("n1", 1_700_000_000.0 + 2 * day, "retired"),
    ]
    figures = compute(rows, events, now=1_700_300_000.0)
    assert figures["by_site"] == {"north": 2, "south": 1}
    assert figures["by_quantity"] == {"hum": 3, "temp": 3}
    assert figures["availability"] == {"active": 2, "online": 1, "ratio": 0.5, "by_site": {"north": 0.5}}
    assert figures["completeness"]["by_site"] == {"north": 0.75, "south": 1.0}  # 20 expected each
    # n2 has no history: it counts from its record's creation (day 2) in its current state.
    assert [(p["total"], p["pending"], p["active"], p["retired"]) for p in figures["growth"]] == [
        (1, 0, 1, 0),
        (3, 1, 2, 0),
        (3, 1, 1, 1),
    ]
    assert figures["positions"] == [
        {"id": "n1", "site": "north", "role": "sensor", "lon": 3.06, "lat": 50.63}
    ]
    page = render(figures)
    assert page.count("<img") == 7 and "50.0 %" in page


def test_load_refuses_bad_arguments():
    with pytest.raises(InvalidInput, match="broker must be"):
        load.run("http://x", 1, 1, 1)
