"""The node's MQTT client under the MicroPython unix port against a real Mosquitto."""

import signal
import subprocess
import threading
import time

import pytest

from nodekit import REPO, Broker, Collector, run_micropython, unique_site, wait_until

pytestmark = [pytest.mark.micropython, pytest.mark.broker]


def test_publish_subscribe_qos0_qos1_and_will(tmp_path):
    site = unique_site("c1mqtt")
    collector = Collector(site)
    try:
        result = run_micropython(f"""
import asyncio, json
from firmware.mqtt import MQTTClient, MQTTDisconnected
got = []
async def main():
    a = MQTTClient("{site}-a", "127.0.0.1", 1883, keepalive=30,
                   will=("rvb/v1/{site}/a/death", b"\\xa1\\x01\\x07", 1, False))
    b = MQTTClient("{site}-b", "127.0.0.1", 1883, on_message=lambda t, p: got.append([t.decode(), p.decode()]),
                   max_packet=256)
    await a.connect()
    await b.connect()
    granted = await b.subscribe("rvb/v1/{site}/a/cmd", 1)
    for i in range(20):
        await a.publish("rvb/v1/{site}/a/cmd", b"m%d" % i, qos=1)
    await a.publish("rvb/v1/{site}/a/cmd", b"q0", qos=0)
    await a.publish("rvb/v1/{site}/a/cmd", b"x" * 1000, qos=1)   # larger than b's buffer
    for _ in range(100):
        if len(got) >= 21 and b.oversize:
            break
        await asyncio.sleep_ms(20)
    inflight = a.inflight()
    a.abort()                                   # drop the connection without DISCONNECT: the will goes
    try:
        await a.publish("rvb/v1/{site}/a/cmd", b"late", qos=0)
        refused = False
    except MQTTDisconnected:
        refused = True
    await b.disconnect()
    return {{"granted": granted, "got": got, "inflight": inflight, "oversize": b.oversize,
             "qos0_refused_offline": refused}}
print(json.dumps(asyncio.run(main())))
""", tmp_path)
        assert wait_until(lambda: collector.of("death"), 5)
    finally:
        collector.close()
    assert result["granted"] == 1
    assert [p for _, p in result["got"]] == ["m%d" % i for i in range(20)] + ["q0"]
    assert result["oversize"] == 1 and result["inflight"] == 0 and result["qos0_refused_offline"]
    assert collector.of("death") == [{1: 7}]


def test_connection_refused_surfaces_as_oserror(tmp_path):
    broker = Broker(tmp_path)       # configured, never started: nothing listens on its port
    result = run_micropython(f"""
import asyncio, json
from firmware.mqtt import MQTTClient, MQTTError
async def main():
    c = MQTTClient("nobody", "127.0.0.1", {broker.port}, connect_timeout_ms=1000)
    try:
        await c.connect()
        return {{"error": None}}
    except (OSError, MQTTError, asyncio.TimeoutError) as exc:
        return {{"error": type(exc).__name__, "connected": c.connected}}
print(json.dumps(asyncio.run(main())))
""", tmp_path)
    assert result["error"] in ("OSError", "MQTTDisconnected", "TimeoutError") and result["connected"] is False


MID_PUBLISH = """
import asyncio, json, time
from firmware.mqtt import MQTTClient, MQTTError
log = {{"downs": 0, "acked": [], "connect_errors": 0}}
async def keep_connected(c):
    while True:
        try:
            await c.connect()
            await c.wait_down()
            log["downs"] += 1
        except (OSError, MQTTError, asyncio.TimeoutError):
            log["connect_errors"] += 1
        await asyncio.sleep_ms(200)
async def publisher(c, n):
    for i in range(n):
        await c.publish("rvb/v1/{site}/n/data", b"r%03d" % i, qos=1)
        log["acked"].append(i)
        await asyncio.sleep_ms(40)
async def main():
    c = MQTTClient("{site}-n", "127.0.0.1", {port}, keepalive=10, retry_ms=2000)
    asyncio.create_task(keep_connected(c))
    await asyncio.wait_for(publisher(c, {count}), 30)
    log["retransmits"] = c.retransmits
    log["connects"] = c.connects
    await c.disconnect()
    return log
print(json.dumps(asyncio.run(main())))
"""


def test_broker_vanishing_mid_publish_is_a_clean_disconnect_and_qos1_is_retried(tmp_path):
    site = unique_site("c1vanish")
    broker = Broker(tmp_path).start()
    outcome = {}

    def run():
        outcome["result"] = run_micropython(MID_PUBLISH.format(site=site, port=broker.port, count=60), tmp_path,
                                            timeout=60)
    worker = threading.Thread(target=run)
    worker.start()
    try:
        time.sleep(1.0)
        broker.proc.send_signal(signal.SIGKILL)        # vanishes: no goodbye, sockets reset
        broker.proc.wait()
        time.sleep(1.0)
        broker.start()
        worker.join(60)
    finally:
        broker.stop()
    result = outcome["result"]
    assert result["acked"] == list(range(60))          # every QoS 1 message acknowledged, in order
    assert result["downs"] >= 1 and result["connects"] >= 2
    assert result["connect_errors"] >= 1               # the broker was really gone for a while


class SilentBroker:
    """Accepts one MQTT connection, answers CONNACK, then says nothing more (a broker or path that hangs
    without closing the socket); counts the PINGREQs it receives."""

    def __init__(self):
        import socket
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.pings = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.server.accept()
        conn.settimeout(10)
        with conn:
            conn.recv(1024)                       # CONNECT
            conn.sendall(b"\x20\x02\x00\x00")     # CONNACK, accepted
            try:
                while True:
                    data = conn.recv(2)
                    if not data:
                        return
                    if data[0] == 0xC0:
                        self.pings += 1
            except OSError:
                return

    def close(self):
        self.server.close()


def test_keepalive_pings_and_gives_up_on_a_silent_broker(tmp_path):
    broker = SilentBroker()
    try:
        result = run_micropython(f"""
import asyncio, json
from firmware.mqtt import MQTTClient
async def main():
    c = MQTTClient("quiet", "127.0.0.1", {broker.port}, keepalive=2)
    await c.connect()
    await asyncio.wait_for(c.wait_down(), 10)
    return {{"connected": c.connected}}
print(json.dumps(asyncio.run(main())))
""", tmp_path)
        broker.thread.join(5)
    finally:
        broker.close()
    assert broker.pings >= 1
    assert result["connected"] is False


def test_concurrent_publishes_keep_their_own_fixed_headers(tmp_path):
    """Writers queue on the write lock while a large publish drains; each must still go out with its
    own type and remaining length (a shared header buffer filled before the lock mixed them up)."""
    site = unique_site("c1hdr")
    collector = Collector(site)
    sizes = [200000, 10, 3000, 40, 70000, 5]
    try:
        result = run_micropython(f"""
import asyncio, json
from firmware.mqtt import MQTTClient
async def main():
    a = MQTTClient("{site}-a", "127.0.0.1", 1883, keepalive=30)
    await a.connect()
    sizes = {sizes}
    # 0xff first: not a CBOR item, so the collector keeps the payload raw
    await asyncio.gather(*[a.publish("rvb/v1/{site}/a/data", b"\\xff" + bytes([65 + i]) * n, qos=1)
                           for i, n in enumerate(sizes)])
    await a.disconnect()
    return {{"connects": a.connects}}
print(json.dumps(asyncio.run(main())))
""", tmp_path, heap="2M")
        assert wait_until(lambda: len(collector.of("data")) >= len(sizes), 10)
    finally:
        collector.close()
    assert result["connects"] == 1      # no reconnect after a garbled stream
    got = sorted(collector.of("data"), key=lambda p: p[:2])
    assert got == [b"\xff" + bytes([65 + i]) * n for i, n in enumerate(sizes)]
