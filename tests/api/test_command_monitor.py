"""Commands wait for the node's ack over the real broker; `monitor` streams decoded traffic."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid

import cbor2
import paho.mqtt.client as mqtt
import pytest
from api_support import TOKEN, birth, data, node_id, wait_for
from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.client import ApiClient
from gateway.errors import InvalidInput, Timeout
from protocols import messages


class StandInNode:
    """A CPython node that answers each cmd with an ack (`dim` ok, other ops unknown-op)."""

    def __init__(self, site: str, node: str) -> None:
        self.site, self.node = site, node
        self.received: list[dict] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="t-node-" + uuid.uuid4().hex[:8], protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda c, *_: c.subscribe("rvb/v1/%s/%s/cmd" % (site, node), qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()
        assert self.subscribed.wait(20)

    def _on_message(self, client, userdata, message) -> None:
        command = cbor2.loads(message.payload)
        self.received.append(command)
        result = "ok" if command[messages.OP] == "dim" else "unknown-op"
        ack = messages.ack(1, len(self.received) - 1, 1_763_700_000, command[messages.ID], result)
        client.publish("rvb/v1/%s/%s/ack" % (self.site, self.node), cbor2.dumps(ack), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def node(gateway, publisher):
    node = node_id(300)
    publisher.publish("rvb/v1/%s/%s/birth" % (gateway.site, node), birth(node))
    wait_for(lambda: ApiClient(gateway.url).devices(), what="the node's birth")
    stand_in = StandInNode(gateway.site, node)
    yield stand_in
    stand_in.close()


def test_command_round_trip(gateway, node):
    admin = ApiClient(gateway.url, token=TOKEN)
    answer = admin.command(node.node, "dim", {"level": 40}, timeout_s=30)
    assert answer["result"] == "ok" and answer["node"] == node.node
    assert node.received[-1][messages.ARGS] == {"level": 40}
    result = CliRunner().invoke(
        cli,
        [
            "command",
            node.node,
            "identify",
            "s=5",
            "--timeout",
            "30",
            "--api",
            gateway.url,
            "--token",
            TOKEN,
            "--json",
        ],
    )
    assert result.exit_code == 1 and json.loads(result.output)["result"] == "unknown-op"
    with pytest.raises(InvalidInput):
        admin.command(node.node, "dim", {"level": 400})


def test_command_without_ack_times_out(gateway, publisher):
    silent = node_id(301)
    publisher.publish("rvb/v1/%s/%s/birth" % (gateway.site, silent), birth(silent))
    wait_for(lambda: ApiClient(gateway.url).devices(), what="the node's birth")
    with pytest.raises(Timeout):
        ApiClient(gateway.url, token=TOKEN).command(silent, "reboot", timeout_s=0.5)


def test_monitor_streams_filtered_traffic(gateway, publisher):
    nodes = [node_id(310), node_id(311)]
    seen: list[dict] = []
    following = threading.Event()

    def read() -> None:
        stream = ApiClient(gateway.url).monitor(node=nodes[1], channel="data")
        following.set()
        for event in stream:
            seen.append(event)
            if len(seen) == 2:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert following.wait(20)

    def publish_round():
        for node in nodes:
            publisher.publish("rvb/v1/%s/%s/birth" % (gateway.site, node), birth(node))
            publisher.publish("rvb/v1/%s/%s/data" % (gateway.site, node), data(1, 0))
            publisher.publish("rvb/v1/%s/%s/data" % (gateway.site, node), data(1, 1))

    # The stream starts when the server has accepted it; publish until the reader has its two events.
    wait_for(lambda: publish_round() or len(seen) >= 2, timeout_s=30, what="monitor events")
    reader.join(20)
    assert {event["node"] for event in seen} == {nodes[1]}
    assert {event["channel"] for event in seen} == {"data"}
    assert seen[0]["payload"]["boot"] == 1 and seen[0]["payload"]["pack"][0]["n"] == "temp"


def test_monitor_command_prints_json_lines(gateway, publisher):
    node = node_id(320)
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli.main",
            "monitor",
            "--api",
            gateway.url,
            "--node",
            node,
            "--channel",
            "birth",
            "--count",
            "1",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The command connects asynchronously; publish until it has printed its one line and exited.
        wait_for(
            lambda: (
                publisher.publish("rvb/v1/%s/%s/birth" % (gateway.site, node), birth(node))
                or watcher.poll() is not None
            ),
            timeout_s=60,
            what="monitor output",
        )
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    event = json.loads(out.strip())
    assert (event["node"], event["channel"], event["payload"]["role"]) == (node, "birth", "sensor")
