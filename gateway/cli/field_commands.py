"""Field commands: `reverbere boards|flash|deploy|provision|scan|console|check` over gateway/field/.

Human output goes to the terminal (colour unless NO_COLOR is set); `--json` prints JSON on stdout,
one object per line for event streams (flash progress)."""

from __future__ import annotations

import dataclasses
import json
import os
import time

import click

from gateway.errors import InvalidInput, Unavailable
from gateway.field import boards as field_boards
from gateway.field import check as field_check
from gateway.field import console as field_console
from gateway.field import deploy as field_deploy
from gateway.field import flash as field_flash
from gateway.field import provision as field_provision
from gateway.field import scan as field_scan
from gateway.field.improv import BleLink, ImprovClient, SerialLink

# A board that was just reset prints while it boots; past this it is not going to start Improv.
BOOT_S = 30.0


def _color() -> bool:
    return "NO_COLOR" not in os.environ


def _say(text: str, fg: str | None = None, err: bool = False) -> None:
    click.echo(click.style(text, fg=fg) if fg and _color() else text, err=err)


def _json(value) -> None:
    click.echo(json.dumps(value, separators=(",", ":"), sort_keys=True))


@click.group()
def boards() -> None:
    """Board definitions (boards/*.toml): chip, flash offset, role, attached parts."""


@boards.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON array instead of a table.")
def boards_list(as_json: bool) -> None:
    """Every shipped board definition."""
    found = field_boards.list_boards()
    if as_json:
        _json(found)
        return
    for b in found:
        _say("%-24s %-8s %-10s 0x%-6x %s" % (b["name"], b["chip"], b["role"], b["flash_offset"],
                                            ", ".join(b["sensors"]) or "-"))


@boards.command("show")
@click.argument("board")
@click.option("--json", "as_json", is_flag=True, help="The whole definition as JSON.")
def boards_show(board: str, as_json: bool) -> None:
    """One board definition, by name or path."""
    shown = field_boards.show_board(board)
    if as_json:
        _json(shown)
        return
    _say(shown["name"], fg="cyan")
    _say(shown["description"])
    for key in ("chip", "role", "furniture", "flash_size", "path"):
        _say("  %-12s %s" % (key, shown[key]))
    _say("  %-12s 0x%x" % ("flash_offset", shown["flash_offset"]))
    for part in shown["definition"].get("sensor", []):
        _say("  sensor       " + ", ".join("%s=%s" % kv for kv in part.items()))


@click.command()
@click.option("--board", required=True, help="Board name or board file.")
@click.option("--port", required=True, help="Serial port of the board in bootloader mode.")
@click.option("--firmware", required=True, type=click.Path(dir_okay=False), help="MicroPython image (.bin).")
@click.option("--erase", is_flag=True, help="Erase the whole flash first (wipes the file system).")
@click.option("--baud", default=460800, show_default=True, help="Baud rate while writing.")
@click.option("--json", "as_json", is_flag=True, help="JSON progress events, one per line.")
def flash(board: str, port: str, firmware: str, erase: bool, baud: int, as_json: bool) -> None:
    """Flash a MicroPython image at the board's offset, checking the chip and verifying the write."""
    target = field_boards.get_board(board)
    if as_json:
        report = field_flash.flash(target, port, firmware, erase=erase, baud=baud,
                                   on_progress=lambda p: _json({"event": "progress", "stage": p.stage,
                                                                "done": p.done, "total": p.total}))
        _json({"event": "done", **dataclasses.asdict(report)})
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True, no_color=not _color())) as bar:
        tasks: dict[str, int] = {}

        def show(p: field_flash.Progress) -> None:
            if p.stage not in tasks:
                tasks[p.stage] = bar.add_task(p.stage, total=p.total or 1)
            bar.update(tasks[p.stage], completed=p.done, total=p.total or 1)

        report = field_flash.flash(target, port, firmware, erase=erase, baud=baud, on_progress=show)
    _say("flashed %d bytes at 0x%x on %s (%s), verified" % (report.size, report.offset, port, report.chip),
         fg="green")


@click.command()
@click.option("--port", help="Serial port (any pyserial URL) of the board.")
@click.option("--ble", "ble_address", help="BLE address of the board (instead of --port).")
@click.option("--ssid", required=True)
@click.option("--password", required=True, help="Wi-Fi password.")
@click.option("--device-id", required=True, help="Node id ([a-z0-9-], at most 32).")
@click.option("--site", required=True)
@click.option("--lat", type=float, required=True, help="WGS84 latitude of the node.")
@click.option("--lon", type=float, required=True, help="WGS84 longitude of the node.")
@click.option("--asset", required=True, help="The street-furniture asset it is mounted on.")
@click.option("--mqtt-url", required=True, help="mqtt://HOST[:PORT] or mqtts://HOST[:PORT] of the broker.")
@click.option("--mqtt-user", default="", help="MQTT user (default: the device id).")
@click.option("--mqtt-password", default=None, help="MQTT password (default: a new random one, printed).")
@click.option("--gateway-api", envvar="REVERBERE_API",
              help="Gateway API URL to register the node through (default: REVERBERE_API).")
@click.option("--token", envvar="REVERBERE_API_TOKEN", help="Bearer token of the gateway API's admin actions.")
@click.option("--db", help="Register directly in this inventory database (sqlite:///PATH or postgresql://...).")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for each answer.")
@click.option("--wait-online", type=float, is_flag=False, flag_value=60.0, default=None, metavar="[SECONDS]",
              help="Then wait until the gateway reports the node online (default 60 s).")
@click.option("--json", "as_json", is_flag=True)
def provision(port, ble_address, ssid, password, device_id, site, lat, lon, asset, mqtt_url, mqtt_user,
              mqtt_password, gateway_api, token, db, timeout, wait_online, as_json) -> None:
    """Improv Wi-Fi provisioning, then Reverbère's settings, then registration in the inventory
    (through the gateway API, or the database with --db), then with --wait-online the node's first
    connection as the gateway records it. Progress goes to stderr, the result to stdout."""
    started = time.monotonic()
    if bool(port) == bool(ble_address):
        raise InvalidInput("give exactly one of --port or --ble")
    if gateway_api and db:
        raise InvalidInput("register through --gateway-api or --db, not both")
    if wait_online is not None and not (gateway_api or db):
        raise InvalidInput("--wait-online reads the inventory: give --gateway-api or --db")
    if wait_online is not None and wait_online <= 0:
        raise InvalidInput("--wait-online takes a positive number of seconds")
    generated = mqtt_password is None
    plan = field_provision.Plan(ssid=ssid, password=password, device_id=device_id, site=site, lat=lat, lon=lon,
                                asset=asset, mqtt_url=mqtt_url, mqtt_user=mqtt_user,
                                **({} if generated else {"mqtt_password": mqtt_password}))
    # The inventory is opened first: a node is not provisioned if it cannot be recorded.
    registry = _open_registry(gateway_api, token, db)

    def step(name: str) -> None:
        _say("… %s (%.1f s)" % (name, time.monotonic() - started), err=True)

    try:
        if port:
            link = SerialLink.open(port)
            step("waiting for Improv on %s" % port)
            try:
                link.wait_listening(BOOT_S)
            except BaseException:
                link.close()
                raise
        else:
            link = BleLink(ble_address)
        with ImprovClient(link, timeout=timeout) as client:
            held = field_provision.provision(client, plan, step)
        row = None
        if registry:
            step("register")
            row = registry(plan)
        online = None
        if registry and wait_online is not None:
            step("waiting for %s online" % plan.device_id)
            online = field_provision.wait_online(lambda: registry.lookup(plan.device_id), wait_online)
    finally:
        if registry:
            registry.close()
    result = {"device_id": plan.device_id, "settings": held, "registered": row is not None,
              "state": row["state"] if row else None, "seconds": round(time.monotonic() - started, 3)}
    if online is not None:
        result["liveness"] = online["liveness"]
    if generated:
        result["mqtt_password"] = plan.mqtt_password  # the broker's ACL needs it; shown once
    if as_json:
        _json(result)
        return
    registered = ", registered as %s" % row["state"] if row else ""
    came_online = ", online after %.1f s" % result["seconds"] if online else ""
    _say("%s provisioned (%s)%s%s" % (plan.device_id, held["stored"], registered, came_online), fg="green")
    if generated:
        _say("MQTT user %s password %s" % (plan.mqtt_user or plan.device_id, plan.mqtt_password))


class _Registry:
    """Where a provisioned node is recorded: the gateway API or the database."""

    def __init__(self, register, lookup, close) -> None:
        self._register = register
        self.lookup = lookup
        self.close = close

    def __call__(self, plan: field_provision.Plan) -> dict:
        return self._register(plan)


def _open_registry(gateway_api: str | None, token: str | None, db: str | None) -> _Registry | None:
    if gateway_api:
        from gateway.client import ApiClient

        api = ApiClient(gateway_api, token)
        api.health()
        return _Registry(lambda plan: field_provision.register_via_api(api, plan), api.device, api.close)
    if db:
        from gateway.inventory import open_store

        store = open_store(db)
        return _Registry(lambda plan: field_provision.register(store, plan), store.get_device, store.close)
    return None


@click.command()
@click.option("--serial", "want_serial", is_flag=True, help="Serial ports only (default: serial and BLE).")
@click.option("--ble", "want_ble", is_flag=True, help="BLE devices advertising Improv.")
@click.option("--port", "extra_ports", multiple=True, help="Also probe this pyserial URL (repeatable).")
@click.option("--no-probe", is_flag=True, help="List serial ports without asking them anything.")
@click.option("--timeout", default=1.0, show_default=True, help="Seconds per serial probe.")
@click.option("--json", "as_json", is_flag=True)
def scan(want_serial, want_ble, extra_ports, no_probe, timeout, as_json) -> None:
    """Serial ports (USB VID:PID, Improv state) and BLE devices advertising Improv."""
    both = not want_serial and not want_ble
    found: dict = {}
    if want_serial or both:
        found["serial"] = field_scan.scan_serial(extra_ports, timeout, with_probe=not no_probe)
    if want_ble or both:
        try:
            found["ble"] = field_scan.scan_ble()
        except Unavailable as exc:
            if want_ble:
                raise
            found["ble_unavailable"] = str(exc)
    if as_json:
        _json(found)
        return
    for entry in found.get("serial", []):
        answer = entry.get("improv")
        device = entry.get("device") or {}
        _say("%-28s %-10s %-26s %s" % (entry["port"], entry["usb"] or "-", entry["bridge"] or entry["description"],
                                       "improv %s: %s %s" % (answer, device.get("name"), device.get("chip"))
                                       if answer else "-"), fg="green" if answer else None)
    for entry in found.get("ble", []):
        _say("%-28s %-10s %-26s improv %s" % (entry["address"], entry["rssi"], entry["name"], entry["improv"]))
    if "ble_unavailable" in found:
        _say("BLE: " + found["ble_unavailable"], fg="yellow", err=True)


@click.command()
@click.option("--port", required=True, help="Serial port (any pyserial URL) of the board.")
@click.option("--baud", default=115200, show_default=True)
def console(port: str, baud: int) -> None:
    """The board's console (REPL). Ctrl-] leaves."""
    _say("console on %s, Ctrl-] to leave" % port, err=True)
    field_console.run_console(port, baud)


@click.command()
@click.option("--board", required=True, help="Board name or board file.")
@click.option("--port", required=True, help="Serial port (any pyserial URL) of the board, MicroPython running.")
@click.option("--role", help="Role to deploy (default and only choice: the board's own).")
@click.option("--device-id", help="Node id written to config.json (else set at provisioning).")
@click.option("--site", help="Site written to config.json (else set at provisioning).")
@click.option("--mqtt-url", help="mqtt://HOST[:PORT] written to config.json (else set at provisioning).")
@click.option("--ssid", help="Wi-Fi network written to config.json (else set at provisioning).")
@click.option("--wifi-password", default="", help="Wi-Fi password, with --ssid.")
@click.option("--mpy", is_flag=True, help="Compile the modules with mpy-cross (needed on small heaps).")
@click.option("--no-reset", is_flag=True, help="Leave the board in its REPL after the copy.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for each answer.")
@click.option("--json", "as_json", is_flag=True, help="JSON events, one per line.")
def deploy(board, port, role, device_id, site, mqtt_url, ssid, wifi_password, mpy, no_reset, timeout,
           as_json) -> None:
    """Copy the firmware of a role, protocols/ and the generated config.json over the raw REPL,
    skipping files whose SHA-256 on the board matches, verifying each write, then soft-reset."""
    from gateway.field.rawrepl import RawRepl

    settings = field_deploy.network_settings(mqtt_url, ssid, wifi_password)
    plan = field_deploy.make_plan(field_boards.get_board(board), role, device_id, site, settings, mpy=mpy)
    with RawRepl.open(port, timeout=timeout) as repl:
        if as_json:
            report = field_deploy.deploy(repl, plan, _json, reset=not no_reset)
            return
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True, no_color=not _color())) as bar:
            task = bar.add_task("deploy", total=plan.size)
            sizes = {f.path: len(f.data) for f in plan.files}

            def show(event: dict) -> None:
                if event["event"] in ("skip", "verified"):
                    bar.advance(task, sizes[event["path"]])
                    bar.update(task, description=event["path"])

            report = field_deploy.deploy(repl, plan, show, reset=not no_reset)
    _say("deployed %d files (%d bytes), %d unchanged, in %.1f s%s"
         % (len(report["written"]), report["bytes"], report["skipped"], report["seconds"],
            "" if no_reset else ", board reset"), fg="green")


@click.command()
@click.argument("device")
@click.option("--gateway-api", envvar="REVERBERE_API", default="http://127.0.0.1:8780", show_default=True,
              help="Gateway API URL (default: REVERBERE_API).")
@click.option("--token", envvar="REVERBERE_API_TOKEN", help="Bearer token of the gateway API's admin actions.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for each node answer.")
@click.option("--json", "as_json", is_flag=True)
def check(device: str, gateway_api: str, token: str | None, timeout: float, as_json: bool) -> None:
    """What the gateway knows of DEVICE and a live round trip (identify, then status)."""
    from gateway.client import ApiClient

    with ApiClient(gateway_api, token) as api:
        result = field_check.check(api, device, timeout_s=timeout)
    if as_json:
        _json(result)
    else:
        known = result["device"]
        _say("%s  state %s  site %s" % (device, known.get("state"), known.get("site")), fg="cyan")
        for key in sorted(known):
            if key not in ("state", "site"):
                _say("  %-16s %s" % (key, known[key]))
        for op in ("identify", "status"):
            answer = result[op]
            if "error" in answer:
                _say("  %-16s FAILED: %s" % (op, answer["error"]), fg="red")
            else:
                _say("  %-16s ok in %.2f s %s" % (op, result[op + "_round_trip_s"],
                                                   json.dumps(answer, sort_keys=True)), fg="green")
    if not result["ok"]:
        raise SystemExit(4)  # the documented timeout exit code: the node did not answer


commands = [boards, flash, deploy, provision, scan, console, check]
