"""`reverbere gateway run` option handling (the daemon itself is exercised in test_gateway_e2e)."""

from __future__ import annotations

import pytest

from gateway.cli.gateway_commands import gateway
from gateway.errors import InvalidInput


def run(*args: str) -> None:
    gateway.main(["run", *args], standalone_mode=False)


def test_listening_beyond_localhost_is_refused_without_configuration():
    with pytest.raises(InvalidInput, match="beyond localhost"):
        run("--broker", "mqtt://127.0.0.1:1883", "--db", "sqlite:///x.db", "--http", "0.0.0.0:8780")


def test_bad_urls_are_refused_before_anything_starts():
    with pytest.raises(InvalidInput, match="broker must be"):
        run("--broker", "http://127.0.0.1:1883")
    with pytest.raises(InvalidInput, match="db must be"):
        run("--db", "mysql://127.0.0.1/x")


def test_missing_configuration_file_is_reported(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read configuration"):
        run("--config", str(tmp_path / "absent.toml"))


def test_unknown_forwarder_url_stops_the_daemon_before_it_connects(tmp_path):
    with pytest.raises(InvalidInput, match="unknown forwarder URL scheme"):
        run("--db", "sqlite:///%s" % (tmp_path / "gw.db"), "--forward", "gopher://platform:70", "--http", "")
