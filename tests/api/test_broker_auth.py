"""Generated credentials and ACL accepted by a real Mosquitto: nodes publish their own topics only."""

from __future__ import annotations

import getpass
import json
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from api_support import free_port, wait_for
from click.testing import CliRunner

from gateway import broker_auth
from gateway.cli.main import cli

NODES = ["a0b1c2000001", "a0b1c2000002"]
MOSQUITTO = "/usr/sbin/mosquitto"


def test_hash_matches_mosquitto_passwd(tmp_path):
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "s3cret"], check=True)
    hashed = path.read_text().strip().split(":", 1)[1]
    assert broker_auth.verify_password("s3cret", hashed)
    assert not broker_auth.verify_password("wrong", hashed)
    ours = broker_auth.hash_password("s3cret", salt=bytes(12))
    assert ours.startswith("$7$101$") and broker_auth.verify_password("s3cret", ours)


@pytest.fixture
def secured_broker(tmp_path):
    passwd, secrets, acl = tmp_path / "passwd", tmp_path / "secrets.json", tmp_path / "acl"
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["broker", "credentials", *NODES, "--passwd", str(passwd), "--secrets", str(secrets), "--json"],
        catch_exceptions=False,
    )
    assert made.exit_code == 0 and json.loads(made.output)["users"] == 3
    assert (secrets.stat().st_mode & 0o777) == 0o600
    assert runner.invoke(cli, ["broker", "acl", "--out", str(acl)]).exit_code == 0
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        "listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\n"
        "persistence false\n"
        # Mosquitto reads the password file after dropping root; keep the 0600 files readable.
        "user %s\n" % (port, passwd, acl, getpass.getuser())
    )
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: _accepts(port), what="mosquitto listening")
    yield port, json.loads(secrets.read_text())
    broker.terminate()
    broker.wait(10)


def _accepts(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Client:
    def __init__(self, port: int, user: str, password: str) -> None:
        self.connected = threading.Event()
        self.reason: list = []
        self.acks: dict[int, int] = {}
        self.messages: list[str] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="t-" + uuid.uuid4().hex[:8], protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda c, u, mid, reason, props: self.acks.__setitem__(mid, reason.value)
        self.client.on_message = lambda c, u, message: self.messages.append(message.topic)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        self.reason.append(reason)
        self.connected.set()

    def publish(self, topic: str) -> int:
        info = self.client.publish(topic, b"\xa0", qos=1)
        wait_for(lambda: info.mid in self.acks, what="PUBACK")
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_acl_lets_a_node_publish_only_its_own_topics(secured_broker):
    port, passwords = secured_broker
    gateway = Client(port, "gateway", passwords["gateway"])
    node = Client(port, NODES[0], passwords[NODES[0]])
    intruder = Client(port, NODES[0], "not-the-password")
    try:
        for client in (gateway, node, intruder):
            assert client.connected.wait(20)
        assert intruder.reason[0].is_failure  # refused: bad user name or password
        subscribed = threading.Event()
        gateway.client.on_subscribe = lambda *_: subscribed.set()
        gateway.client.subscribe("rvb/v1/+/+/+", qos=1)
        assert subscribed.wait(20)
        assert node.publish("rvb/v1/s1/%s/data" % NODES[0]) == 0  # success
        assert node.publish("rvb/v1/s1/%s/data" % NODES[1]) == 0x87  # not authorized
        assert node.publish("rvb/v1/s1/%s/cmd" % NODES[0]) == 0x87  # a node cannot command itself
        assert gateway.publish("rvb/v1/s1/%s/cmd" % NODES[0]) == 0
        wait_for(lambda: len(gateway.messages) >= 2, what="deliveries")
        time.sleep(0.2)
        assert sorted(gateway.messages) == sorted(
            ["rvb/v1/s1/%s/data" % NODES[0], "rvb/v1/s1/%s/cmd" % NODES[0]]
        )
    finally:
        for client in (gateway, node, intruder):
            client.close()
