"""`reverbere gateway run`: the daemon, configured by TOML and flags (flags win)."""

from __future__ import annotations

import click

from gateway import config as gateway_config
from gateway import logs
from gateway.daemon import Daemon


@click.group()
def gateway() -> None:
    """The gateway daemon: ingest, inventory, durable outbox and forwarders."""


@gateway.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML configuration file.")
@click.option("--broker", help="mqtt://HOST:PORT or mqtts://HOST:PORT.")
@click.option("--db", help="sqlite:///PATH (sqlite:////abs/path) or postgresql://...")
@click.option(
    "--forward",
    multiple=True,
    help="Destination (repeatable): ngsi-ld+http://HOST:PORT, mqtt://HOST:PORT/prefix, file:///PATH.jsonl",
)
@click.option("--http", help="HOST:PORT of the HTTP API (localhost unless [http] allow_remote).")
@click.option(
    "--auto-approve/--no-auto-approve", default=None, help="Forward data of unknown devices at once."
)
@click.option("--share", help="Shared-subscription group, to split the traffic between gateway processes.")
@click.option("--site", "sites", multiple=True, help="Serve only this site (repeatable); default every site.")
@click.option("--client-id", help="MQTT client id (also names the broker session).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
def run(config_path, broker, db, forward, http, auto_approve, share, sites, client_id, log_level) -> None:
    """Run the gateway until SIGTERM or Ctrl-C (finishes the batch in hand, acknowledges it, closes)."""
    config = gateway_config.load(
        config_path,
        broker=broker,
        db=db,
        forward=forward or None,
        http=http,
        auto_approve=auto_approve,
        share=share,
        sites=sites or None,
        client_id=client_id,
        log_level=log_level,
    )
    logs.configure(config.log_level)
    daemon = Daemon(config, http_hook=_http_hook())
    daemon.install_signal_handlers()
    daemon.run()


def _http_hook():
    """The HTTP API's starter when the API module is installed, else None (the address is only checked)."""
    try:
        from gateway.api import serve  # type: ignore[attr-defined]
    except ImportError:
        return None
    return serve


commands = [gateway]
