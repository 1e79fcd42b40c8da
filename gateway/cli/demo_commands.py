"""`reverbere demo`: the whole system on a small street, with nothing but the project installed."""

import json
import sys
from urllib.parse import urlsplit

import click

from gateway.errors import InvalidInput


def _broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise InvalidInput("--broker must look like mqtt://HOST:PORT, got %r" % url)
    return parts.hostname, parts.port or 1883


def _show_tick(snapshot: dict) -> None:
    devices = ", ".join("%s %d" % item for item in sorted(snapshot["devices"].items())) or "none yet"
    first = snapshot["first_data_s"]
    lifi = snapshot.get("lifi")
    click.echo(
        "[%6.1fs] devices: %s | readings produced %d, received %d, at the platform %d%s%s"
        % (snapshot["elapsed_s"], devices, snapshot["produced"], snapshot["received"], snapshot["forwarded"],
           "" if first is None else " | first data after %.1fs" % first,
           "" if not lifi else " | LiFi beacons decoded %d, verified %d" % (lifi["beacons_decoded"],
                                                                         lifi["beacons_verified"])),
        err=True,
    )


def _show_result(result: dict) -> None:
    click.echo("Reconciliation")
    for key in ("produced", "received", "forwarded", "lost", "duplicates", "dropped_counted"):
        click.echo("  %-16s %d" % (key, result[key]))
    click.echo("  %-16s %s" % ("devices", ", ".join("%s %d" % kv for kv in sorted(result["devices"].items()))))
    if "lifi" in result:
        lifi = result["lifi"]
        click.echo("  %-16s beacons sent %d, decoded %d, verified %d; luminaires covered %d"
                   % ("lifi", lifi["beacons_sent"], lifi["beacons_decoded"], lifi["beacons_verified"],
                      lifi["luminaires_covered"]))
    click.echo("Boards")
    for board in result["boards"]:
        click.echo("  %-14s %-10s heap peak %6d B  restarts %d  memory errors %d"
                   % (board["id"], board["role"], board["heap_peak_bytes"], board["restarts"],
                      board["memory_errors"]))


@click.command()
@click.option("--duration", type=float, default=0, show_default=True,
              help="Seconds to run; 0 runs until interrupted (Ctrl-C).")
@click.option("--period", type=float, default=2.0, show_default=True, help="Reporting period of the boards (s).")
@click.option("--broker", default="mqtt://127.0.0.1:1883", show_default=True, help="MQTT broker URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the reconciliation as one JSON object.")
def demo(duration, period, broker, as_json):
    """Run a small street: sensor nodes, luminaires and a LiFi receiver running the real firmware, a gateway
    with its inventory, and a fake urban platform; then reconcile what was measured with what arrived.

    Exits 1 when a reading was lost or duplicated."""
    from sim.demo import run_demo

    click.echo("Starting the demo street (Ctrl-C to stop)…", err=True)
    result = run_demo(duration, period, _broker_address(broker), on_tick=_show_tick)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _show_result(result)
    if result["lost"] or result["duplicates"]:
        sys.exit(1)


commands = [demo]
