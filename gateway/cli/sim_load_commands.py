"""`reverbere sim load`: virtual nodes publishing contract-valid traffic, for benchmarks and soak tests.

gateway/cli/sim_commands.py owns the `sim` group and adds `sim_commands` from here to it.
"""

from __future__ import annotations

import json

import click

from sim import load


@click.command("load")
@click.option("--broker", default="mqtt://127.0.0.1:1883", show_default=True, help="mqtt://HOST:PORT")
@click.option("--nodes", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Data messages per second, all nodes together.",
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds.",
)
@click.option("--site", default="load", show_default=True)
@click.option(
    "--connections",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="MQTT connections the virtual nodes share.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def load_command(broker, nodes, rate, duration_s, site, connections, as_json) -> None:
    """Publish a birth per node, then data at RATE msg/s for DURATION s (QoS 1); report what was sent."""
    result = load.run(broker, nodes, rate, duration_s, site, connections)
    if as_json:
        click.echo(json.dumps(result.as_json()))
    else:
        click.echo(
            "sent %d messages (%d births, %d data) from %d nodes in %.2f s; %d acknowledged"
            % (result.sent, result.births, result.data, result.nodes, result.duration_s, result.acked)
        )


sim_commands = [load_command]
