"""The runtime in one MicroPython process with a small stand-in role (the role interface of
firmware/roles/base.py), against a real Mosquitto: plain TCP on the local broker, and TLS on a private
one with a self-signed certificate the node verifies."""

import json
import shutil
import subprocess

import pytest

from nodekit import Broker, Collector, run_micropython, unique_site, wait_until

pytestmark = [pytest.mark.micropython, pytest.mark.broker]

SCRIPT = """
import asyncio, json
from firmware import config as configuration
from firmware.bootstate import BootState
from firmware.clock import Clock
from firmware.hal import Hal
from firmware.ring import Ring
from firmware.runtime import Runtime


class StandInRole:
    name = "sensor"

    def __init__(self, hal, config, clock):
        self.calls = 0
        self.pending = [("sensor-fault", {{"part": "bme280", "reason": "absent"}})]

    def capabilities(self):
        return [["temp", "Cel", 1]]

    async def start(self):
        pass

    async def sample(self):
        self.calls += 1
        if self.calls % 3 == 0:
            raise OSError(5)             # a bug or a bus error the role did not catch
        return [{{0: "temp", 1: "Cel", 2: 20.5}}]

    def faults(self):
        return {{"bme280": "absent"}}

    def status_ext(self):
        self.reports = getattr(self, "reports", 0) + 1
        if self.reports == 1:
            raise MemoryError("memory allocation failed")   # the status task dies once; it is restarted
        return {{"calls": self.calls}}

    async def command(self, op, args):
        if op == "dim":
            return "ok", {{"level": args["level"]}}
        return None

    def events(self):
        out, self.pending = self.pending, []
        return out


async def main():
    cfg = configuration.load()
    hal = Hal(cfg["board"])
    ring = Ring("ring", 4, 4096)
    boot = BootState().begin("power-on", 3, ring.max_boot)
    clock = Clock()
    runtime = Runtime(hal, cfg, StandInRole(hal, cfg["role"], clock), boot, ring, clock,
                      reset_cause="power-on")
    task = asyncio.create_task(runtime.run())
    await asyncio.sleep_ms({run_ms})
    runtime.stop()
    await task
    return {{"data_seq": runtime.data_seq, "role_errors": runtime.counters["role_errors"],
             "buffered": ring.buffered, "tls": runtime.mqtt.ssl is not None}}

print(json.dumps(asyncio.run(main())))
"""


def write_config(tmp_path, site, host, port, **extra):
    cfg = {"node": {"site": site, "id": site}, "mqtt": dict({"host": host, "port": port}, **extra),
           "ntp": {"host": None}, "period": 0.2, "status_period": 0.5, "startup_delay_ms": 0,
           "watchdog_ms": 0, "board": {"name": "bench", "chip": "esp32"}, "role": {"name": "sensor"}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))


def command_sender(collector):
    def send():
        collector.publish_cmd(collector.site, 9, "dim", {"level": 40})
        collector.publish_cmd(collector.site, 10, "identify", {"s": 1})
    return send


def check(result, collector):
    data = collector.of("data")
    assert result["role_errors"] >= 2
    # Dense despite role errors. QoS 1 is at least once: a publish retried before its PUBACK came back may
    # arrive twice (the gateway deduplicates), so the check is on the distinct sequence numbers.
    seqs = sorted({m[2] for m in data})
    assert seqs == list(range(result["data_seq"]))[:len(seqs)]
    assert data[0][4] == [{0: "temp", 1: "Cel", 2: 20.5}]                         # unit restored
    assert collector.of("evt")[0][30] == "sensor-fault"
    status = collector.of("status")[0]
    assert status[26] == {"bme280": "absent"} and status[28]["role_errors"] >= 1 and "calls" in status[28]
    assert status[28]["memory_errors"] == 1 and status[28]["task_errors"] == 1
    assert collector.ack_for(9)[43] == "ok" and collector.ack_for(9)[44] == {"level": 40}
    assert collector.ack_for(10)[43] == "error"           # no status LED on this board


def run_with_commands(tmp_path, collector, site, run_ms):
    import threading
    import time
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(
        run_micropython(SCRIPT.format(run_ms=run_ms), tmp_path, timeout=60)))
    worker.start()
    assert wait_until(lambda: collector.of("birth"), 15)
    command_sender(collector)()
    worker.join(60)
    time.sleep(0.2)
    return outcome


def test_runtime_with_a_stand_in_role(tmp_path):
    site = unique_site("c1rt")
    collector = Collector(site)
    try:
        write_config(tmp_path, site, "127.0.0.1", 1883)
        result = run_with_commands(tmp_path, collector, site, 2500)
        assert wait_until(lambda: collector.ack_for(10), 5)
    finally:
        collector.close()
    assert result["tls"] is False
    check(result, collector)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed to make a certificate")
def test_runtime_over_tls_verifies_the_broker(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    # The node's TLS stack (mbedTLS through MicroPython's ssl) takes the CA certificate in DER.
    subprocess.run(["openssl", "x509", "-in", str(tmp_path / "cert.pem"), "-outform", "der", "-out",
                    str(tmp_path / "ca.der")], check=True, capture_output=True)
    broker = Broker(tmp_path)
    plain_port = broker.port
    from nodekit import free_port
    tls_port = free_port()
    broker.conf.write_text(broker.conf.read_text() + f"listener {tls_port} 127.0.0.1\ncertfile {tmp_path}/cert.pem\n"
                           f"keyfile {tmp_path}/key.pem\n")
    broker.start()
    site = unique_site("c1tls")
    collector = Collector(site, port=plain_port)
    try:
        write_config(tmp_path, site, "localhost", tls_port, tls=True, ca="ca.der")
        result = run_with_commands(tmp_path, collector, site, 3000)
        assert wait_until(lambda: collector.ack_for(10), 5)
    finally:
        collector.close()
        broker.stop()
    assert result["tls"] is True
    check(result, collector)


def test_ring_form_of_a_pack_drops_only_units_the_registry_implies():
    import cbor2

    from firmware.runtime import data_payload, stored_pack, wire_pack
    records = [{0: "temp", 1: "Cel", 2: 21.5}, {0: "pres", 2: 101325.0}, {0: "temp", 1: "K", 2: 294.65},
               {0: "custom-thing", 1: "m", 2: 3}]
    stored = stored_pack(records)
    assert cbor2.loads(stored)[0] == {0: "temp", 2: 21.5} and cbor2.loads(stored)[2][1] == "K"
    assert len(stored) < len(cbor2.dumps(records))
    assert cbor2.loads(wire_pack(stored)) == [{0: "temp", 1: "Cel", 2: 21.5}, {0: "pres", 1: "Pa", 2: 101325.0},
                                              {0: "temp", 1: "K", 2: 294.65}, {0: "custom-thing", 1: "m", 2: 3}]
    message = cbor2.loads(bytes(data_payload(3, 17, [1234], wire_pack(stored))))
    assert message == {1: 3, 2: 17, 3: [1234], 4: cbor2.loads(wire_pack(stored))}
