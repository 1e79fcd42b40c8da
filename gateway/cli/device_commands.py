"""Operator commands that talk to a running gateway's API: devices, inventory, monitor, command; plus
`broker` (credentials and ACL files) and `doctor` (is everything the gateway needs reachable).

The API address is `--api URL`, else REVERBERE_API, else the `[http] listen` of `--config`, else the default.
Admin actions send the bearer token of `--token` or REVERBERE_API_TOKEN.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import click

from gateway import broker_auth
from gateway import config as gateway_config
from gateway.client import DEFAULT_API, ApiClient
from gateway.errors import InvalidInput


def _api_url(api: str | None, config_path: str | None) -> str:
    if api:
        return api
    if os.environ.get("REVERBERE_API"):
        return os.environ["REVERBERE_API"]
    if config_path:
        address = gateway_config.load(config_path).http_address()
        if address:
            return "http://%s:%d" % address
    return DEFAULT_API


def api_options(command: Any) -> Any:
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)
    command = click.option("--token", envvar="REVERBERE_API_TOKEN", help="Bearer token of admin actions.")(
        command
    )
    command = click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), help="Gateway TOML (for the API address)."
    )(command)
    return click.option(
        "--api", help="Gateway API URL (default: REVERBERE_API, the config, %s)." % DEFAULT_API
    )(command)


def _client(api: str | None, config_path: str | None, token: str | None) -> ApiClient:
    return ApiClient(_api_url(api, config_path), token)


def _print(value: Any, as_json: bool, human: str | None = None) -> None:
    click.echo(
        json.dumps(value, indent=None if as_json else 2, default=str) if as_json or human is None else human
    )


def _device_line(device: dict) -> str:
    location = "%.5f,%.5f" % tuple(device["location"]) if device.get("location") else "-"
    return "%-14s %-12s %-9s %-8s %-8s %s" % (
        device["id"],
        device["site"],
        device.get("role") or "-",
        device["state"],
        device["liveness"],
        location,
    )


# -- devices ---------------------------------------------------------------------------------------------
@click.group()
def devices() -> None:
    """The inventory of devices: list, show, approve, retire, edit, import, export."""


@devices.command("list")
@click.option("--state", type=click.Choice(["pending", "active", "retired"]))
@click.option("--site")
@api_options
def devices_list(state, site, api, config_path, token, as_json) -> None:
    """List devices (filter by state and site)."""
    with _client(api, config_path, token) as client:
        found = client.devices(state, site)
    header = "%-14s %-12s %-9s %-8s %-8s %s" % ("ID", "SITE", "ROLE", "STATE", "LIVENESS", "LON,LAT")
    _print(found, as_json, "\n".join([header] + [_device_line(d) for d in found]))


@devices.command("show")
@click.argument("node_id")
@click.option(
    "--history", "history_limit", type=int, default=20, show_default=True, help="Lifecycle events to show."
)
@api_options
def devices_show(node_id, history_limit, api, config_path, token, as_json) -> None:
    """One device's record and its recent lifecycle history."""
    with _client(api, config_path, token) as client:
        record = client.device(node_id)
        record["history"] = client.history(node_id, history_limit)
    _print(record, as_json)


@devices.command("approve")
@click.argument("node_ids", nargs=-1, required=True)
@api_options
def devices_approve(node_ids, api, config_path, token, as_json) -> None:
    """Approve pending (or retired) devices: their data is forwarded, held observations released."""
    with _client(api, config_path, token) as client:
        done = [client.approve(node) for node in node_ids]
    _print(done, as_json, "\n".join("approved %s" % d["id"] for d in done))


@devices.command("retire")
@click.argument("node_ids", nargs=-1, required=True)
@api_options
def devices_retire(node_ids, api, config_path, token, as_json) -> None:
    """Retire devices: their data is no longer forwarded."""
    with _client(api, config_path, token) as client:
        done = [client.retire(node) for node in node_ids]
    _print(
        done,
        as_json,
        "\n".join(
            "retired %s (%d held observations discarded)" % (d["device"]["id"], d["discarded"]) for d in done
        ),
    )


@devices.command("edit")
@click.argument("node_id")
@click.option("--location", help="LON,LAT in WGS84, or 'none'.")
@click.option("--asset")
@click.option("--site")
@click.option("--operator")
@click.option("--install-date", help="YYYY-MM-DD")
@api_options
def devices_edit(node_id, location, asset, site, operator, install_date, api, config_path, token, as_json):
    """Change a device's location, asset, site, operator or install date."""
    fields: dict[str, Any] = {
        k: v
        for k, v in (("asset", asset), ("site", site), ("operator", operator), ("install_date", install_date))
        if v is not None
    }
    if location is not None:
        fields["location"] = None if location.lower() == "none" else _lon_lat(location)
    if not fields:
        raise InvalidInput("nothing to edit: give --location, --asset, --site, --operator or --install-date")
    with _client(api, config_path, token) as client:
        record = client.edit(node_id, **fields)
    _print(record, as_json, _device_line(record))


def _lon_lat(text: str) -> list[float]:
    try:
        lon, lat = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput("location must be LON,LAT, got %r" % text) from None
    return [lon, lat]


@devices.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8"))
@click.option("--valid-only", is_flag=True, help="Import the valid lines and report the others.")
@api_options
def devices_import(csv_file, valid_only, api, config_path, token, as_json) -> None:
    """Import devices from CSV (id,site[,lon,lat,asset,operator,install_date,state]); all or nothing."""
    with _client(api, config_path, token) as client:
        result = client.import_csv(csv_file.read(), valid_only)
    _print(
        result,
        as_json,
        "imported %d devices" % result["imported"]
        + "".join("\nline %d: %s" % (e["line"], e["error"]) for e in result["errors"]),
    )


@devices.command("export")
@click.option(
    "--format", "kind", type=click.Choice(["csv", "geojson", "ngsi-ld"]), default="csv", show_default=True
)
@click.option("--state", type=click.Choice(["pending", "active", "retired"]))
@click.option("--site")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@api_options
def devices_export(kind, state, site, out, api, config_path, token, as_json) -> None:
    """Export the inventory as CSV, GeoJSON (for the city's GIS) or NGSI-LD Device entities."""
    with _client(api, config_path, token) as client:
        text = client.export(kind, state, site)
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
        _print({"written": out, "format": kind, "bytes": len(text.encode())}, as_json, "wrote %s" % out)
    else:
        click.echo(text, nl=not text.endswith("\n"))


# -- inventory report -------------------------------------------------------------------------------------
@click.group()
def inventory() -> None:
    """The inventory report (devices by type, site and quantity, growth, availability, completeness, map)."""


@inventory.command("report")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the HTML report (with plots) here.")
@api_options
def inventory_report(out, api, config_path, token, as_json) -> None:
    """Print the report's figures; with --out, also write the HTML report."""
    with _client(api, config_path, token) as client:
        figures = client.report()
        if out:
            page = client.report_html()
            with open(out, "w", encoding="utf-8") as handle:
                handle.write(page)
    if as_json:
        _print(figures, True)
        return
    availability, complete = figures["availability"]["ratio"], figures["completeness"]["ratio"]
    lines = [
        "devices: %d" % figures["devices"],
        "by role: %s" % _pairs(figures["by_role"]),
        "by site: %s" % _pairs(figures["by_site"]),
        "by state: %s" % _pairs(figures["by_state"]),
        "by quantity: %s" % _pairs(figures["by_quantity"]),
        "availability: %s" % ("-" if availability is None else "%.1f %%" % (100 * availability)),
        "data completeness: %s" % ("-" if complete is None else "%.1f %%" % (100 * complete)),
        "located: %d" % len(figures["positions"]),
    ]
    if out:
        lines.append("wrote %s" % out)
    click.echo("\n".join(lines))


def _pairs(counts: dict) -> str:
    return ", ".join("%s %s" % item for item in counts.items()) or "-"


# -- monitor and command ----------------------------------------------------------------------------------
@click.command()
@click.option("--node", "node_glob", help="Node id or glob (e.g. 'a0b1*').")
@click.option(
    "--channel", type=click.Choice(["birth", "death", "data", "status", "evt", "ack", "cmd", "ota"])
)
@click.option("--count", type=int, help="Stop after this many messages.")
@api_options
def monitor(node_glob, channel, count, api, config_path, token, as_json) -> None:
    """Show live decoded traffic (Ctrl-C to stop)."""
    seen = 0
    with _client(api, config_path, token) as client:
        for event in client.monitor(node_glob, channel):
            if as_json:
                click.echo(json.dumps(event))
            else:
                stamp = time.strftime("%H:%M:%S", time.localtime(event["at"]))
                body = event.get("error") or json.dumps(event.get("payload"), default=str)
                click.echo(
                    "%s %-10s %-14s %-6s %s"
                    % (stamp, event.get("site", "?"), event.get("node", "?"), event.get("channel", "?"), body)
                )
            seen += 1
            if count and seen >= count:
                return


@click.command()
@click.argument("node_id")
@click.argument("op")
@click.argument("args", nargs=-1)
@click.option("--timeout", "timeout_s", type=float, default=10.0, show_default=True, help="Seconds to wait.")
@api_options
@click.pass_context
def command(ctx, node_id, op, args, timeout_s, api, config_path, token, as_json) -> None:
    """Send a command (op with key=value args; values are JSON when they parse) and wait for its ack.

    Exits 0 when the node answers ok, 1 when it answers otherwise, 4 without an answer in time.
    """
    with _client(api, config_path, token) as client:
        answer = client.command(node_id, op, parse_args(args), timeout_s)
    _print(
        answer,
        as_json,
        "%s %s: %s%s"
        % (node_id, op, answer["result"], "" if answer.get("detail") is None else " %s" % answer["detail"]),
    )
    if answer["result"] != "ok":
        ctx.exit(1)


def parse_args(pairs: tuple[str, ...]) -> dict[str, Any] | None:
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidInput("command arguments are key=value, got %r" % pair)
        try:
            args[key] = json.loads(text)
        except ValueError:
            args[key] = text
    return args or None


# -- broker credentials and ACL ---------------------------------------------------------------------------
@click.group()
def broker() -> None:
    """Mosquitto password file (per-device credentials) and ACL generation."""


@broker.command("credentials")
@click.argument("node_ids", nargs=-1)
@click.option("--from-api", is_flag=True, help="Also every non-retired device of the running gateway.")
@click.option("--gateway-user", "gateway_users", multiple=True, default=("gateway",), show_default=True)
@click.option(
    "--passwd",
    "passwd_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Mosquitto password file to write.",
)
@click.option(
    "--secrets",
    "secrets_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON {user: password} to write (mode 0600), for provisioning the nodes.",
)
@api_options
def broker_credentials(
    node_ids, from_api, gateway_users, passwd_path, secrets_path, api, config_path, token, as_json
) -> None:
    """Generate a fresh password per node and gateway user; never printed."""
    users = list(node_ids)
    if from_api:
        with _client(api, config_path, token) as client:
            users += [d["id"] for d in client.devices() if d["state"] != "retired" and d["id"] not in users]
    users += [user for user in gateway_users if user not in users]
    passwords = broker_auth.credentials(users)
    broker_auth.write_private(passwd_path, broker_auth.password_file(passwords))
    broker_auth.write_private(secrets_path, json.dumps(passwords, indent=2) + "\n")
    _print(
        {"users": len(passwords), "passwd": passwd_path, "secrets": secrets_path},
        as_json,
        "wrote %d users to %s (passwords in %s)" % (len(passwords), passwd_path, secrets_path),
    )


@broker.command("acl")
@click.option("--gateway-user", "gateway_users", multiple=True, default=("gateway",), show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def broker_acl(gateway_users, out, as_json) -> None:
    """Write the Mosquitto ACL: nodes publish and read only their own topics (pattern rules)."""
    text = broker_auth.acl(list(gateway_users))
    if not out:
        if as_json:
            _print({"acl": text}, True)
        else:
            click.echo(text, nl=False)
        return
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    _print({"written": out}, as_json, "wrote %s" % out)


# -- doctor ----------------------------------------------------------------------------------------------
def check_broker(url: str, timeout_s: float = 5.0) -> str:
    """Connect an MQTT client (without credentials unless configured) and report what the broker said."""
    import paho.mqtt.client as mqtt

    parts = urlsplit(url)
    answered = threading.Event()
    outcome: list[str] = []
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="reverbere-doctor-%d" % os.getpid(), protocol=mqtt.MQTTv5
    )

    def on_connect(_client, _userdata, _flags, reason, _properties) -> None:
        outcome.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=10)
    except OSError as exc:
        raise ConnectionError(str(exc)) from exc
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            raise ConnectionError("no CONNACK within %g s" % timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    # A refusal for lack of credentials still proves the broker is up.
    return "MQTT broker answered: %s" % outcome[0]


def check_database(url: str) -> str:
    from gateway.inventory import open_store

    store = open_store(url, migrate=False)
    try:
        return "schema version %d" % store.schema_version()
    finally:
        store.close()


def check_destination(url: str, timeout_s: float = 5.0) -> str:
    parts = urlsplit(url)
    if parts.scheme == "file":
        folder = os.path.dirname(parts.path) or "."
        if not os.access(folder, os.W_OK):
            raise ConnectionError("folder %s is not writable" % folder)
        return "folder %s writable" % folder
    if parts.scheme.startswith("ngsi-ld+"):
        import httpx

        base = "%s://%s" % (parts.scheme.split("+", 1)[1], parts.netloc)
        response = httpx.get(base + "/ngsi-ld/v1/types", timeout=timeout_s)
        return "HTTP %d from %s" % (response.status_code, base)
    default_port = 8883 if parts.scheme == "mqtts" else 1883
    with socket.create_connection((parts.hostname, parts.port or default_port), timeout=timeout_s):
        return "TCP connection accepted"


def check_api(url: str, token: str | None) -> str:
    with ApiClient(url, token, 5.0) as client:
        return "status %s" % client.health()["status"]


@click.command()
@click.option("--broker", "broker_url", help="mqtt://HOST:PORT (default: the config's).")
@click.option("--db", help="Database URL (default: the config's).")
@click.option("--forward", multiple=True, help="Destination URLs (default: the config's).")
@click.option("--no-api", is_flag=True, help="Do not check the gateway API.")
@api_options
@click.pass_context
def doctor(ctx, broker_url, db, forward, no_api, api, config_path, token, as_json) -> None:
    """Check that the broker, the database, the destinations and the gateway API are reachable (exit 7 if not)."""
    config = gateway_config.load(config_path, broker=broker_url, db=db, forward=forward or None)
    checks: list[tuple[str, str, Any]] = [
        ("broker", config.broker, lambda: check_broker(config.broker)),
        ("database", _without_password(config.db), lambda: check_database(config.db)),
    ]
    checks += [("platform", url, lambda url=url: check_destination(url)) for url in config.forward]
    if not no_api:
        url = _api_url(api, config_path)
        checks.append(("api", url, lambda: check_api(url, token)))
    results = []
    for name, target, probe in checks:
        try:
            results.append({"check": name, "target": target, "ok": True, "detail": probe()})
        except Exception as exc:  # noqa: BLE001 - every failure of a probe is a finding, not a crash
            results.append(
                {"check": name, "target": target, "ok": False, "detail": str(exc) or type(exc).__name__}
            )
    healthy = all(result["ok"] for result in results)
    _print(
        {"ok": healthy, "checks": results},
        as_json,
        "\n".join(
            "%-4s %-9s %s: %s" % ("ok" if r["ok"] else "DOWN", r["check"], r["target"], r["detail"])
            for r in results
        ),
    )
    if not healthy:
        ctx.exit(7)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(":%s@" % parts.password, ":***@", 1)


commands = [devices, inventory, monitor, command, broker, doctor]
