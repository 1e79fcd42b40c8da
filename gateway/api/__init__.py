"""The gateway's HTTP API (inventory reads, admin actions, metrics, monitor stream, commands).

`serve(daemon, host, port)` is the daemon's `http_hook`: it starts the API next to a running daemon and
returns the server, whose `close()` stops it. The bearer token of admin actions comes from the environment
(`REVERBERE_API_TOKEN`, or a file named by `REVERBERE_API_TOKEN_FILE`), else from the file named by the
configuration's `[http] token_file`: never from the TOML itself, never logged.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

from gateway.errors import InvalidInput


def token_from_env() -> str | None:
    path = os.environ.get("REVERBERE_API_TOKEN_FILE")
    if path:
        return _token_file("REVERBERE_API_TOKEN_FILE", path)
    return os.environ.get("REVERBERE_API_TOKEN") or None


def api_token(token_file: str | None) -> str | None:
    """The admin token: the environment's when it gives one (so an operator can override a deployed file),
    else the one in `token_file` (the configuration's `[http] token_file`), else None (admin actions off)."""
    token = token_from_env()
    if token is None and token_file:
        token = _token_file("[http] token_file", token_file)
    return token


def _token_file(setting: str, path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError as exc:
        raise InvalidInput("cannot read %s %s: %s" % (setting, path, exc.strerror)) from exc


def check_local(host: str, allow_remote: bool) -> None:
    """Refuse an address beyond localhost unless the configuration allows it."""
    if allow_remote:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise InvalidInput("cannot resolve http host %r: %s" % (host, exc)) from exc
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise InvalidInput(
            "the API would listen on %s beyond localhost; set [http] allow_remote = true" % host
        )


def serve(daemon: Any, host: str, port: int) -> Any:
    """Start the API next to `daemon` (its store, counters and configuration); return the ApiServer."""
    # Imported here so the CLI's client side (gateway.api.errors) does not load the server and its plots.
    from gateway.api.app import Api
    from gateway.api.server import ApiServer
    from gateway.api.traffic import TrafficTap
    from gateway.outbox import forwarder_key

    config = daemon.config
    check_local(host, config.allow_remote_http)
    tap = TrafficTap(config, daemon.counters).start()
    keys = [forwarder_key(url) for url in config.forward]
    api = Api(daemon.store, daemon.counters, keys, api_token(config.api_token_file), tap)
    return ApiServer(api, host, port).start()


__all__ = ["api_token", "check_local", "serve", "token_from_env"]
