"""`reverbere` operator commands against the running API (CliRunner in-process; subprocess for exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from api_support import TOKEN, birth, data, free_port, node_id, wait_for
from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.client import ApiClient


def _run(*args: str, env: dict | None = None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def _two_pending(gateway, publisher):
    nodes = [node_id(200 + i) for i in range(2)]
    for node in nodes:
        publisher.publish("rvb/v1/%s/%s/birth" % (gateway.site, node), birth(node))
        publisher.publish("rvb/v1/%s/%s/data" % (gateway.site, node), data(1, 0))
    wait_for(lambda: len(ApiClient(gateway.url).devices()) == 2, what="ingest")
    return nodes


def test_devices_list_approve_export(gateway, publisher, tmp_path):
    nodes = _two_pending(gateway, publisher)
    listed = _run("devices", "list", "--api", gateway.url, "--json")
    assert listed.exit_code == 0
    assert sorted(d["id"] for d in json.loads(listed.output)) == nodes
    approved = _run(
        "devices", "approve", nodes[0], "--api", gateway.url, "--json", env={"REVERBERE_API_TOKEN": TOKEN}
    )
    assert approved.exit_code == 0 and json.loads(approved.output)[0]["state"] == "active"
    assert (
        _run(
            "devices", "edit", nodes[0], "--location", "3.06,50.63", "--api", gateway.url, "--token", TOKEN
        ).exit_code
        == 0
    )
    out = tmp_path / "devices.geojson"
    exported = _run("devices", "export", "--format", "geojson", "--out", str(out), "--api", gateway.url)
    assert exported.exit_code == 0
    features = json.loads(out.read_text())["features"]
    assert [f["id"] for f in features] == [nodes[0]] and features[0]["geometry"]["coordinates"] == [
        3.06,
        50.63,
    ]


def test_inventory_report_writes_html_with_plots(gateway, publisher, tmp_path):
    _two_pending(gateway, publisher)
    page = tmp_path / "report.html"
    result = _run("inventory", "report", "--out", str(page), "--api", gateway.url, "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["devices"] == 2
    html = page.read_text()
    assert "Sensor-network inventory" in html and html.count("data:image/png;base64,") == 7


def test_exit_codes_through_the_real_command(gateway):
    env = dict(os.environ, REVERBERE_API=gateway.url)
    env.pop("REVERBERE_API_TOKEN", None)
    missing = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "devices", "show", "ffffffffffff"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 3 and "no device" in missing.stderr
    unauthorized = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "devices", "approve", "ffffffffffff"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unauthorized.returncode == 2
    down = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli.main",
            "devices",
            "list",
            "--api",
            "http://127.0.0.1:%d" % free_port(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 7


def test_doctor_reports_down_services(gateway, tmp_path):
    healthy = _run("doctor", "--db", gateway.daemon.config.db, "--api", gateway.url, "--json")
    report = json.loads(healthy.output)
    assert healthy.exit_code == 0 and report["ok"], report
    assert {c["check"] for c in report["checks"]} == {"broker", "database", "api"}
    down = _run(
        "doctor",
        "--broker",
        "mqtt://127.0.0.1:%d" % free_port(),
        "--db",
        gateway.daemon.config.db,
        "--forward",
        "ngsi-ld+http://127.0.0.1:%d" % free_port(),
        "--no-api",
        "--json",
    )
    assert down.exit_code == 7
    failed = {c["check"] for c in json.loads(down.output)["checks"] if not c["ok"]}
    assert failed == {"broker", "platform"}
