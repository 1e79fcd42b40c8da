"""`reverbere sim`: simulated boards on a pty (`sim board`) and fleets with faults (`sim run`).

This module owns the `sim` group; other areas add their commands to it (`sim load`, from
gateway/cli/sim_load_commands.py when present), so one `sim` group is registered.
"""

import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

import click

from gateway.errors import InvalidInput

ROLE_BOARDS = {"sensor": "esp32-devkitc-sensor", "luminaire": "luminaire-controller", "lifi-rx": "lifi-receiver"}


@click.group()
def sim():
    """Simulated boards running the real firmware under the MicroPython unix port."""


@sim.command()
@click.option("--board", "board_name", default=None, help="Board definition (boards/<name>.toml).")
@click.option("--role", type=click.Choice(sorted(ROLE_BOARDS)), default=None,
              help="Pick the board definition of this role.")
@click.option("--blank", is_flag=True, help="MicroPython and no application, as a freshly flashed ESP32 "
              "(with --board: that board's parts wired, ready for `reverbere deploy`).")
@click.option("--dir", "board_dir", type=click.Path(file_okay=False), default=None,
              help="The board's flash directory (kept); default a scratch directory.")
@click.option("--site", default="sim", show_default=True)
@click.option("--broker", default="127.0.0.1:1883", show_default=True, help="HOST:PORT of the MQTT broker.")
@click.option("--period", type=float, default=60.0, show_default=True, help="Reporting period (s).")
@click.option("--heap", default="64K", show_default=True, help="RAM budget of the firmware (as -X heapsize).")
def board(board_name, role, blank, board_dir, site, broker, period, heap):
    """Start one simulated board and print its serial port (a pty) on the first line of stdout, then run
    until interrupted. The port speaks the REPL, raw REPL and raw-paste: `mpremote connect PORT …`."""
    from sim.board_process import node_config
    from sim.serial_board import SerialBoard, prepare_application, prepare_blank

    if blank and role:
        raise InvalidInput("--blank has no application: drop --role (--board B wires that board's parts)")
    if board_name and role and ROLE_BOARDS[role] != board_name:
        raise InvalidInput("--board %s does not play role %s" % (board_name, role))
    host, _, port = broker.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput("--broker must be HOST:PORT, got %r" % broker)
    scratch = tempfile.TemporaryDirectory(prefix="rvb-board-") if board_dir is None else None
    root = Path(scratch.name if scratch else board_dir)
    if blank:
        prepare_blank(root, board_name)
    else:
        name = board_name or ROLE_BOARDS[role or "sensor"]
        prepare_application(root, node_config(name, site, host, int(port), period=period))
    serial_board = SerialBoard(root, heap=heap).start()
    click.echo(serial_board.port)
    sys.stdout.flush()
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        serial_board.close()
        if scratch:
            scratch.cleanup()


def _show_tick(line: str) -> None:
    click.echo(line, err=True)


@sim.command()
@click.option("--nodes", type=int, default=3, show_default=True, help="Sensor nodes.")
@click.option("--luminaires", type=int, default=0, show_default=True)
@click.option("--receivers", type=int, default=0, show_default=True, help="LiFi receivers.")
@click.option("--duration", type=float, default=30.0, show_default=True,
              help="Simulated seconds to run (real time: duration / accel).")
@click.option("--accel", type=float, default=1.0, show_default=True,
              help="Time acceleration X >= 1: boards, NTP, world and fault plan run X times faster.")
@click.option("--heap", default="64K", show_default=True, help="RAM budget of each board's firmware.")
@click.option("--faults", "plan", default="",
              help="KIND@START[+DURATION][:TARGET], comma-separated; times in simulated seconds.")
@click.option("--platform", "platform_url", default=None,
              help="NGSI-LD endpoint to forward to instead of the built-in fake platform.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--period", type=float, default=2.0, show_default=True,
              help="Reporting period of the boards (simulated s).")
@click.option("--json", "as_json", is_flag=True, help="Print the reconciliation as one JSON object.")
def run(nodes, luminaires, receivers, duration, accel, heap, plan, platform_url, seed, period, as_json):
    """Run a fleet of simulated boards with a broker, a gateway and an urban platform, apply the fault plan,
    and reconcile what the boards produced with what arrived. Exits 1 when a reading was lost or
    duplicated."""
    from sim import faults
    from sim.fleet import FleetSpec, run_fleet

    if not accel >= 1.0:
        raise InvalidInput("--accel must be 1 or more (simulated seconds per real second), got %g" % accel)
    if period * 1000 / accel < 20:
        # Stamps are whole simulated seconds taken when the sampling task wakes: at less than ~20 real ms
        # between readings, the host's scheduling delays (times X) could give two readings one stamp.
        raise InvalidInput("--period %g s at --accel %g leaves %.1f real ms between readings; use a period "
                           "of at least %g s" % (period, accel, period * 1000 / accel, accel * 0.02))
    spec = FleetSpec(nodes=nodes, luminaires=luminaires, receivers=receivers, duration_s=duration, heap=heap,
                     faults=faults.parse(plan), platform_url=platform_url, seed=seed, period_s=period,
                     accel=accel)
    result = run_fleet(spec, on_tick=_show_tick)
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key in ("produced", "received", "forwarded", "lost", "duplicates", "dropped_counted"):
            click.echo("%-16s %d" % (key, result[key]))
        click.echo("%-16s %s" % ("devices", json.dumps(result["devices"])))
        for entry in result["boards"]:
            click.echo("  %(id)-12s %(role)-10s heap peak %(heap_peak_bytes)6d B  restarts %(restarts)d  "
                       "memory errors %(memory_errors)d" % entry)
    if result["lost"] or result["duplicates"]:
        sys.exit(1)


def _add_other_sim_commands() -> None:
    """Commands other areas contribute to the `sim` group (`sim load`)."""
    try:
        module = importlib.import_module("gateway.cli.sim_load_commands")
    except ModuleNotFoundError as exc:
        if exc.name != "gateway.cli.sim_load_commands":
            raise
        return
    for command in getattr(module, "sim_commands", ()):
        if command.name not in sim.commands:
            sim.add_command(command)


_add_other_sim_commands()

commands = [sim]
