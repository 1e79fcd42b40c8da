"""Configuration loading, counters with their Prometheus view, and JSON logs."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gateway import config as gateway_config
from gateway import logs
from gateway.counters import Counters, UnknownMetric
from gateway.errors import InvalidInput


def test_toml_then_flags_override(tmp_path):
    path = tmp_path / "gateway.toml"
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    path.write_text(
        '[broker]\nurl = "mqtt://10.0.0.5:1883"\nshare = "gw"\npassword_file = "%s"\n'
        '[database]\nurl = "sqlite:///x.db"\n[forward]\nurls = ["file:///tmp/a.jsonl"]\n'
        "[inventory]\nauto_approve = true\n" % secret
    )
    loaded = gateway_config.load(str(path), broker="mqtt://127.0.0.1:1884", auto_approve=None)
    assert loaded.broker == "mqtt://127.0.0.1:1884" and loaded.share == "gw" and loaded.password == "s3cret"
    assert loaded.forward == ("file:///tmp/a.jsonl",) and loaded.auto_approve is True
    assert loaded.do_rebirth_on_gap is False  # shared subscription: each member sees part of a sequence


def test_example_file_in_etc_loads():
    loaded = gateway_config.load("etc/gateway.toml")
    assert loaded.http_address() == ("127.0.0.1", 8780)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[broker]\nurl = 5\n", "broker must be"),
        ('[broker]\nurll = "mqtt://x:1"\n', "unknown key broker.urll"),
        ('[http]\nlisten = "0.0.0.0:8780"\n', "beyond localhost"),
        ('[database]\nurl = "mysql://x"\n', "db must be"),
        ("[broker\n", "configuration"),
    ],
)
def test_bad_configuration_is_refused_clearly(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        gateway_config.load(str(path))


def test_remote_http_needs_an_explicit_yes(tmp_path):
    path = tmp_path / "remote.toml"
    path.write_text('[http]\nlisten = "0.0.0.0:8780"\nallow_remote = true\n')
    assert gateway_config.load(str(path)).http_address() == ("0.0.0.0", 8780)


def test_counters_are_exposed_with_project_names():
    counters = Counters()
    counters.inc("messages_ingested_total", 3)
    counters.inc("messages_rejected_total", reason="cbor")
    counters.set("outbox_depth", 12)
    counters.replace("devices", {("active",): 2, ("pending",): 1})
    registry = CollectorRegistry()
    registry.register(counters.collector())
    text = generate_latest(registry).decode()
    assert "reverbere_messages_ingested_total 3.0" in text
    assert 'reverbere_messages_rejected_total{reason="cbor"} 1.0' in text
    assert "reverbere_outbox_depth 12.0" in text and 'reverbere_devices{state="pending"} 1.0' in text
    with pytest.raises(UnknownMetric):
        counters.inc("no_such_metric")


def test_logs_are_json_lines_with_secrets_masked():
    stream = io.StringIO()
    logs.configure("info", stream)
    logs.log(logging.getLogger("gateway.test"), "connected", broker="mqtt://x", password="hunter2")
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "connected" and entry["broker"] == "mqtt://x" and entry["password"] == "***"
    assert entry["level"] == "info" and entry["logger"] == "gateway.test"
