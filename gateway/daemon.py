"""The gateway daemon: ingest in the main thread, a delivery loop per forwarder, gauges refreshed each second.

SIGTERM and SIGINT stop it gracefully: the batch in hand is committed and acknowledged, the MQTT session is
closed, the forwarder loops finish their send, and the database is closed.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway.config import GatewayConfig
from gateway.counters import Counters
from gateway.forwarders.base import from_url
from gateway.ingest import IngestCore, MqttIngest
from gateway.inventory import Store, open_store
from gateway.logs import log
from gateway.outbox import ForwarderLoop, forwarder_key, update_gauges

logger = logging.getLogger("gateway.daemon")

# `http_hook(daemon, host, port)` starts the HTTP API and returns an object with `close()`; None until the
# API is plugged in (the CLI passes it).
HttpHook = Callable[["Daemon", str, int], Any]


class Daemon:
    def __init__(
        self, config: GatewayConfig, counters: Counters | None = None, http_hook: HttpHook | None = None
    ) -> None:
        self.config = config
        self.counters = counters or Counters()
        self.http_hook = http_hook
        self.stop_event = threading.Event()
        self.store: Store | None = None
        self.loops: list[ForwarderLoop] = []
        self.ingest: MqttIngest | None = None
        self._http: Any = None

    def start(self) -> None:
        """Open the database and start the forwarder loops and the gauge refresher."""
        config = self.config
        self.store = open_store(config.db, config.sqlite_synchronous)
        keys = [forwarder_key(url) for url in config.forward]
        for url, key in zip(config.forward, keys, strict=True):
            loop = ForwarderLoop(
                self.store,
                from_url(url),
                key,
                self.counters,
                keys,
                config.forward_batch,
                config.backoff_initial_s,
                config.backoff_max_s,
            )
            self.loops.append(loop)
            loop.start()
        core = IngestCore(self.store, self.counters, config)
        if self.store.dialect == "sqlite":
            core.preload()  # SQLite has one writer: this process
        restored = core.restore_coverage()
        if restored:
            log(logger, "lifi-coverage-restored", lamps=restored)
        self.ingest = MqttIngest(core, config, on_commit=self._wake_forwarders)
        threading.Thread(target=self._refresh_gauges, name="gauges", daemon=True).start()
        address = config.http_address()
        if address and self.http_hook:
            self._http = self.http_hook(self, *address)
        log(
            logger,
            "started",
            db=_without_password(config.db),
            broker=config.broker,
            forwarders=keys,
            auto_approve=config.auto_approve,
            share=config.share,
            http=config.http,
        )

    def _wake_forwarders(self) -> None:
        for loop in self.loops:
            loop.wake.set()

    def _refresh_gauges(self) -> None:
        keys = [loop.key for loop in self.loops]
        while not self.stop_event.wait(1.0):
            try:
                update_gauges(self.store, self.counters, keys)
            except Exception as exc:  # gauges are best effort; ingest must not depend on them  # noqa: BLE001
                log(logger, "gauges-failed", logging.WARNING, error=str(exc))

    def run(self) -> None:
        """Run until stopped (signal or `stop()`), then shut down cleanly."""
        try:
            self.start()
            self.ingest.run(self.stop_event)
            self.ingest.core.close(time.time())
        finally:
            self.shutdown()

    def stop(self, *_: Any) -> None:
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def shutdown(self) -> None:
        self.stop_event.set()
        if self._http is not None:
            self._http.close()
        for loop in self.loops:
            loop.shutdown()
        if self.store is not None:
            self.store.close()
        log(
            logger,
            "stopped",
            ingested=self.counters.total("messages_ingested_total"),
            rejected=self.counters.total("messages_rejected_total"),
            duplicates=self.counters.total("duplicates_total"),
        )


def _without_password(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return "%s://%s@%s" % (scheme, credentials.split(":", 1)[0], host)
