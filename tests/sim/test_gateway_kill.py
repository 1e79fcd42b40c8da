"""kill -9 of a gateway process mid-stream, then a new one on the same database, outbox and broker session:
no reading lost, none observed twice at the platform. Also the books that tell an idempotent re-send from a
duplicate, and the JSON-lines sink's repair of a line torn by a kill."""

import json
import threading
import time

import pytest

from gateway.forwarders.base import Envelope
from gateway.forwarders.jsonl import JsonlForwarder
from sim import load
from sim.demo import received_readings
from sim.fleet import queued_twice
from sim.gateway_process import GatewayProcess, parse_metrics
from sim.platform.books import reading_books
from sim.platform.server import FakePlatform

BROKER = "mqtt://127.0.0.1:1883"


@pytest.fixture
def port():
    """pytest-embedded's autouse `parametrize_fixtures` asks every test for `port`; the one in conftest.py
    boots a blank board. These tests need no console, so theirs is nothing."""


@pytest.mark.broker
def test_gateway_killed_twice_under_load_loses_and_duplicates_nothing(tmp_path):
    site = f"kill-{time.time_ns() % 10**9}"
    sink = tmp_path / "northbound.jsonl"
    with FakePlatform(validate_every=20) as platform:  # requests are checked elsewhere; here, the counts
        gateway = GatewayProcess(tmp_path, [
            "--broker", BROKER, "--client-id", f"rvb-kill-{site}", "--site", site,
            "--db", f"sqlite:///{tmp_path / 'inventory.db'}", "--auto-approve",
            "--forward", platform.forward_url + "?timeout_s=3", "--forward", f"file://{sink}",
        ], {"broker": {"session_expiry_s": 300}, "forward": {"backoff_initial_s": 0.1, "backoff_max_s": 1.0}})
        try:
            gateway.start()
            gateway.wait_subscribed()
            # 400 nodes at 80 messages/s in all: each node every 5 s, as readings are dated to the second
            # (a publisher that stalls and catches up must not send one node two readings in a second).
            sent = []
            publisher = threading.Thread(target=lambda: sent.append(
                load.run(BROKER, nodes=400, rate=80, duration_s=14, site=site)))
            publisher.start()
            ingested_before_kill, streaming = [], []
            for _ in range(2):
                # Kill once this process has taken in some of the stream (its counters scraped meanwhile).
                floor = gateway.total("messages_ingested_total") + 40
                while gateway.total("messages_ingested_total") < floor and publisher.is_alive():
                    time.sleep(0.1)
                ingested_before_kill.append(gateway.total("messages_ingested_total"))
                streaming.append(publisher.is_alive())
                gateway.kill()
                gateway.start()
                gateway.wait_subscribed()
            publisher.join(60)
            assert sent, "the load generator did not finish"
            data = sent[0].data
            deadline = time.monotonic() + 40
            while reading_books(platform).accepted < data and time.monotonic() < deadline:
                time.sleep(0.2)
            books = reading_books(platform)
        finally:
            gateway.close()
    # No reading lost, none observed twice (at the platform, or queued twice in the gateway's outbox).
    assert data == 1120
    books_and_sink = (books.accepted, books.conflicting, received_readings(sink), queued_twice(sink))
    assert books_and_sink == (data, 0, data, 0)
    # Each process was killed while it was ingesting the stream, and the counters of all three add up.
    assert gateway.kills == 2 and gateway.starts == 3 and streaming == [True, True]
    assert 0 < ingested_before_kill[0] < ingested_before_kill[1]
    assert gateway.total("messages_ingested_total") >= data


def test_an_unchanged_resend_is_a_redelivery_and_a_changed_one_a_conflict():
    platform = FakePlatform(validate_every=0)

    def upsert(node: str, at: str, value: float) -> None:
        entity = {"id": f"urn:ngsi-ld:DeviceMeasurement:{node}:temp", "type": "DeviceMeasurement",
                  "numValue": {"type": "Property", "value": value, "observedAt": at}}
        assert platform.upsert([entity], "update", "")[0] in (201, 204)

    upsert("node-000", "2026-01-01T00:00:00.000Z", 12.5)
    upsert("node-000", "2026-01-01T00:00:00.000Z", 12.5)  # re-sent after a timeout or a kill: same content
    upsert("node-001", "2026-01-01T00:00:00.000Z", 12.5)
    upsert("node-001", "2026-01-01T00:00:00.000Z", 13.0)  # another value claims the same instant
    upsert("node-001", "2026-01-01T00:00:01.000Z", 13.0)
    books = reading_books(platform)
    assert (books.accepted, books.redelivered, books.conflicting) == (3, 1, 1)
    assert platform.stats()["observations_conflicting"] == 1


def test_the_sink_books_a_reading_queued_twice_but_not_a_resent_item(tmp_path):
    sink = tmp_path / "northbound.jsonl"

    def line(outbox_id: int, seq: int) -> str:
        payload = {"node_id": "node-000", "boot": 1, "seq": seq}
        return json.dumps({"id": outbox_id, "kind": "observation", "payload": payload}) + "\n"

    sink.write_text(line(1, 0) + line(2, 1) + line(2, 1))  # outbox item 2 written again after a kill
    assert queued_twice(sink) == 0
    sink.write_text(line(1, 0) + line(2, 1) + line(3, 1))  # seq 1 queued as two outbox items
    assert queued_twice(sink) == 1 and received_readings(sink) == 2


def test_a_line_torn_by_a_kill_is_cut_before_the_next_append(tmp_path):
    sink = tmp_path / "northbound.jsonl"
    sink.write_bytes(b'{"id":1,"kind":"device","payload":{}}\n{"id":2,"kind":"observ')  # killed mid-write
    forwarder = JsonlForwarder(sink)
    try:
        result = forwarder.send([Envelope(2, "device", {"n": 2}), Envelope(3, "device", {"n": 3})])
    finally:
        forwarder.close()
    assert result.done == [2, 3]
    assert [json.loads(text)["id"] for text in sink.read_text().splitlines()] == [1, 2, 3]


def test_metrics_are_read_by_name_and_labels():
    text = ('# HELP reverbere_forwarded_total x\n# TYPE reverbere_forwarded_total counter\n'
            'reverbere_forwarded_total{forwarder="ngsi-ld"} 7.0\n'
            'reverbere_forwarded_total{forwarder="file"} 9.0\n'
            '# HELP reverbere_devices x\n# TYPE reverbere_devices gauge\n'
            'reverbere_devices{state="active"} 3.0\n')
    samples = parse_metrics(text)
    assert samples[("forwarded_total", frozenset({("forwarder", "ngsi-ld")}))] == 7.0
    assert samples[("devices", frozenset({("state", "active")}))] == 3.0
