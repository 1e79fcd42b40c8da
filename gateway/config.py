"""Gateway configuration: a TOML file (see etc/gateway.toml for every key) overridden by command-line flags.

Everything has a default, so `reverbere gateway run --broker ... --db ...` works without a file.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import InvalidInput


@dataclass(frozen=True)
class GatewayConfig:
    # [broker]
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    client_id: str = "reverbere-gateway"
    share: str | None = None  # shared-subscription group: several gateways split the traffic
    sites: tuple[str, ...] = ("+",)  # sites this gateway serves; "+" is every site
    receive_maximum: int = 5000  # QoS-1 messages the broker may have in flight to us before our PUBACKs
    session_expiry_s: int = (
        7 * 24 * 3600
    )  # how long the broker keeps our session (and queues) while we are down
    tls_ca: str | None = None
    # [database]
    db: str = "sqlite:///reverbere.db"
    sqlite_synchronous: str = "NORMAL"
    # [ingest]
    batch_max: int = 1000
    batch_wait_ms: int = 20
    max_payload_bytes: int = 16384
    rebirth_on_gap: bool | None = (
        None  # None: on unless `share` is set (a member sees only part of a sequence)
    )
    rebirth_interval_s: float = 30.0
    # [inventory]
    auto_approve: bool = False
    default_period_s: float = 60.0
    stale_after_periods: float = 3.0
    offline_after_periods: float = 10.0
    held_per_device: int = 10000
    # [outbox]
    outbox_max_bytes: int = 256 * 1024 * 1024
    # [forward]
    forward: tuple[str, ...] = ()
    forward_batch: int = 500
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    # [http]
    http: str | None = "127.0.0.1:8780"
    allow_remote_http: bool = False
    api_token_file: str | None = None  # file holding the admin bearer token (the environment wins over it)
    # [log]
    log_level: str = "info"
    # [lifi]
    lifi_master_key: str | None = None  # hex site master key the lamps' beacon keys derive from (never logged)

    @property
    def do_rebirth_on_gap(self) -> bool:
        return self.share is None if self.rebirth_on_gap is None else self.rebirth_on_gap

    def http_address(self) -> tuple[str, int] | None:
        if not self.http:
            return None
        host, _, port = self.http.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise InvalidInput("http address must be HOST:PORT, got %r" % self.http)
        return host, int(port)


# TOML section.key -> field name. Keys absent here are refused so that a typo does not silently do nothing.
TOML_KEYS = {
    ("broker", "url"): "broker",
    ("broker", "username"): "username",
    ("broker", "password"): "password",
    ("broker", "password_file"): "password_file",
    ("broker", "client_id"): "client_id",
    ("broker", "share"): "share",
    ("broker", "sites"): "sites",
    ("broker", "receive_maximum"): "receive_maximum",
    ("broker", "tls_ca"): "tls_ca",
    ("broker", "session_expiry_s"): "session_expiry_s",
    ("database", "url"): "db",
    ("database", "sqlite_synchronous"): "sqlite_synchronous",
    ("ingest", "batch_max"): "batch_max",
    ("ingest", "batch_wait_ms"): "batch_wait_ms",
    ("ingest", "max_payload_bytes"): "max_payload_bytes",
    ("ingest", "rebirth_on_gap"): "rebirth_on_gap",
    ("ingest", "rebirth_interval_s"): "rebirth_interval_s",
    ("inventory", "auto_approve"): "auto_approve",
    ("inventory", "default_period_s"): "default_period_s",
    ("inventory", "stale_after_periods"): "stale_after_periods",
    ("inventory", "offline_after_periods"): "offline_after_periods",
    ("inventory", "held_per_device"): "held_per_device",
    ("outbox", "max_bytes"): "outbox_max_bytes",
    ("forward", "urls"): "forward",
    ("forward", "batch"): "forward_batch",
    ("forward", "backoff_initial_s"): "backoff_initial_s",
    ("forward", "backoff_max_s"): "backoff_max_s",
    ("http", "listen"): "http",
    ("http", "allow_remote"): "allow_remote_http",
    ("http", "token_file"): "api_token_file",
    ("log", "level"): "log_level",
    ("lifi", "beacon_master_key_file"): "lifi_master_key_file",
}

_TYPES = {f.name: f.type for f in fields(GatewayConfig)}


def _coerce(name: str, value: Any) -> Any:
    kind = _TYPES[name]
    if "tuple" in kind:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise InvalidInput("%s must be a list of strings" % name)
        return tuple(value)
    expected = (
        (bool,)
        if "bool" in kind
        else (int,)
        if kind.startswith("int")
        else (int, float)
        if "float" in kind
        else (str,)
    )
    if value is None and "None" in kind:
        return None
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        raise InvalidInput("%s must be %s, got %r" % (name, kind, value))
    return float(value) if "float" in kind else value


def load(path: str | None = None, **overrides: Any) -> GatewayConfig:
    """Read `path` (TOML) if given, then apply the non-None `overrides` (field names), then check."""
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except OSError as exc:
            raise InvalidInput("cannot read configuration %s: %s" % (path, exc.strerror)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput("configuration %s: %s" % (path, exc)) from exc
        for section, table in document.items():
            if not isinstance(table, dict):
                raise InvalidInput("configuration %s: %r must be a [section]" % (path, section))
            for key, value in table.items():
                name = TOML_KEYS.get((section, key))
                if name is None:
                    raise InvalidInput("configuration %s: unknown key %s.%s" % (path, section, key))
                values[name] = value
    # Secrets live in files of their own (readable by the daemon only), never in the TOML itself.
    for file_key, secret in (("password_file", "password"), ("lifi_master_key_file", "lifi_master_key")):
        secret_file = values.pop(file_key, None)
        if secret_file:
            values[secret] = _read_secret(file_key, secret_file)
    values.update({name: value for name, value in overrides.items() if value is not None})
    unknown = set(values) - set(_TYPES)
    if unknown:
        raise InvalidInput("unknown configuration settings: %s" % ", ".join(sorted(unknown)))
    config = replace(GatewayConfig(), **{name: _coerce(name, value) for name, value in values.items()})
    check(config)
    return config


def _read_secret(setting: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise InvalidInput("cannot read %s %s: %s" % (setting, path, exc.strerror)) from exc


def check(config: GatewayConfig) -> None:
    if config.lifi_master_key is not None:
        try:
            bytes.fromhex(config.lifi_master_key)
        except ValueError:
            raise InvalidInput("the LiFi beacon master key must be hexadecimal") from None
    if urlsplit(config.broker).scheme not in ("mqtt", "mqtts"):
        raise InvalidInput("broker must be mqtt://HOST:PORT or mqtts://HOST:PORT, got %r" % config.broker)
    if not config.db.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise InvalidInput("db must be sqlite:///PATH or postgresql://..., got %r" % config.db)
    if config.sqlite_synchronous.upper() not in ("NORMAL", "FULL"):
        raise InvalidInput("sqlite_synchronous must be NORMAL or FULL")
    for name in (
        "batch_max",
        "receive_maximum",
        "max_payload_bytes",
        "outbox_max_bytes",
        "forward_batch",
        "held_per_device",
    ):
        if getattr(config, name) < 1:
            raise InvalidInput("%s must be at least 1" % name)
    if config.receive_maximum > 65535:
        raise InvalidInput("receive_maximum must be at most 65535 (MQTT 5)")
    address = config.http_address()
    if address and not config.allow_remote_http and not _is_loopback(address[0]):
        raise InvalidInput(
            "http listens on %s beyond localhost: set [http] allow_remote = true to allow it" % address[0]
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
