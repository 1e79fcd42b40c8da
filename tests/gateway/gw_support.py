"""Shared helpers of the gateway core tests: stores on both backends, contract messages, unique sites."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import uuid

import cbor2
import psycopg
import pytest

from gateway.config import GatewayConfig
from gateway.inventory import open_store
from protocols import messages, senml

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
NOW = 1_763_700_000.0


def unique(prefix: str = "t") -> str:
    return prefix + uuid.uuid4().hex[:10]


def pg_unreachable() -> str | None:
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return "PostgreSQL at 127.0.0.1:5432 unreachable: %s" % exc


@contextlib.contextmanager
def pg_schema_url():
    """A fresh schema in database `test`, dropped afterwards; yields a URL whose search_path is it."""
    schema = unique("gwt_")
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA %s" % schema)
    try:
        yield "%s?options=-csearch_path%%3D%s" % (PG_BASE, schema)
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as connection:
            connection.execute("DROP SCHEMA %s CASCADE" % schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield "sqlite:///%s" % (tmp_path / "inventory.db")
        return
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    with pg_schema_url() as url:
        yield url


@pytest.fixture
def store(store_url):
    opened = open_store(store_url)
    yield opened
    opened.close()


def config(db: str = "sqlite:///unused.db", **changes) -> GatewayConfig:
    from dataclasses import replace

    return replace(GatewayConfig(db=db, http=None), **changes)


def mac_node(index: int) -> str:
    return "a0b1c2%06x" % index


def topic(site: str, node: str, channel: str) -> str:
    return "rvb/v1/%s/%s/%s" % (site, node, channel)


def birth(
    boot: int = 1,
    seq: int = 0,
    node: str | None = None,
    role: str = "sensor",
    buffered: int = 0,
    reset: str = "power-on",
    period: int = 60,
) -> bytes:
    hw = {"chip": "esp32"}
    if node is not None:
        hw["mac"] = ":".join(node[i : i + 2] for i in range(0, 12, 2))
    return cbor2.dumps(
        messages.birth(
            boot,
            seq,
            int(NOW),
            role,
            "esp32-devkit",
            hw,
            "0.1.0",
            [["temp", "Cel", period], ["hum", "%RH", period]],
            b"\x01" * 8,
            reset,
            False,
            0,
            buffered,
        )
    )


def data(boot: int, seq: int, temp: float = 21.5, when: float | list | None = None) -> bytes:
    pack = [senml.record("temp", temp, "Cel"), senml.record("hum", 40.0, "%RH")]
    return cbor2.dumps(messages.data(boot, seq, int(NOW) + seq if when is None else when, pack))


def death(boot: int) -> bytes:
    return cbor2.dumps(messages.death(boot))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def private_broker(tmp_path, port: int | None = None):
    """A Mosquitto of our own (tests that kill the gateway need unlimited queues for its offline session)."""
    port = port or free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n" % port
    )
    process = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)
