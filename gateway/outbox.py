"""The durable outbox seen from the forwarders: one delivery loop per forwarder, with its own cursor.

Ingest writes outbox items in the same transaction as its dedup windows (gateway.inventory.store). Each
`ForwarderLoop` reads the items after its cursor in insertion order, sends them, and records the result: done
and refused items are finished, items to retry stop the cursor so they are sent again, in order, after an
exponential backoff with jitter. Items every forwarder has finished are deleted. The outbox is bounded in
bytes (drop-oldest, counted as `dropped_total{reason="outbox-full"}`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import orjson

from gateway.counters import Counters
from gateway.forwarders.base import Envelope, Forwarder, SendResult
from gateway.inventory.store import Store, StoreError
from gateway.logs import log

logger = logging.getLogger("gateway.outbox")


def backoff_delay(
    attempt: int, initial: float, maximum: float, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry number `attempt` (1, 2, ...): exponential, capped, half of it jittered.

    Jitter keeps gateways that failed together from retrying together.
    """
    ceiling = min(maximum, initial * (2 ** (attempt - 1)))
    return ceiling / 2 + rand() * ceiling / 2


def forwarder_key(url: str) -> str:
    """A stable name for a forwarder's cursor: its URL without credentials."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += ":%d" % parts.port
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def settle(batch_ids: list[int], result: SendResult) -> tuple[list[int], list[int], dict[int, str]]:
    """(done, retry, rejected) with every id of the batch accounted for: an id the forwarder did not
    mention is retried, so a forwarder bug delays data instead of losing it."""
    known = set(batch_ids)
    done = [i for i in result.done if i in known]
    rejected = {i: reason for i, reason in result.rejected.items() if i in known and i not in set(done)}
    finished = set(done) | set(rejected)
    retry = [i for i in batch_ids if i not in finished]
    return done, retry, rejected


class ForwarderLoop(threading.Thread):
    def __init__(
        self,
        store: Store,
        forwarder: Forwarder,
        key: str,
        counters: Counters,
        all_keys: list[str],
        batch: int = 500,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 60.0,
    ) -> None:
        super().__init__(name="forward-%s" % forwarder.name, daemon=True)
        self.store = store
        self.forwarder = forwarder
        self.key = key
        self.counters = counters
        self.all_keys = all_keys
        self.batch = batch
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.attempt = 0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.wake.clear()  # before fetching: a commit landing during the step wakes the next wait
                try:
                    sent = self.step()
                except StoreError as exc:
                    log(logger, "outbox-store-failed", logging.ERROR, forwarder=self.key, error=str(exc))
                    sent = -1
                if sent == 0:
                    self.wake.wait(0.5)
                elif sent < 0:
                    self.attempt += 1
                    self.stop.wait(backoff_delay(self.attempt, self.backoff_initial_s, self.backoff_max_s))
        finally:
            self.forwarder.close()

    def step(self) -> int:
        """Send one batch; return how many items were sent, or -1 when some must be retried."""
        items = self.store.fetch(self.key, self.batch)
        if not items:
            return 0
        ids = [item.id for item in items]
        envelopes = [Envelope(item.id, item.kind, orjson.loads(item.payload)) for item in items]
        try:
            result = self.forwarder.send(envelopes)
        except Exception as exc:  # a forwarder failure must not stop delivery: everything is retried
            log(logger, "forward-failed", logging.WARNING, forwarder=self.key, error=repr(exc))
            result = SendResult(retry=ids)
        done, retry, rejected = settle(ids, result)
        self.store.record(self.key, done + list(rejected), prune_for=self.all_keys)
        if done:
            self.counters.inc("forwarded_total", len(done), forwarder=self.forwarder.name)
        for reason in rejected.values():
            self.counters.inc("forward_rejected_total", forwarder=self.forwarder.name, reason=reason)
        if rejected:
            log(
                logger,
                "forward-rejected",
                logging.WARNING,
                forwarder=self.key,
                count=len(rejected),
                reasons=sorted(set(rejected.values())),
            )
        if retry:
            self.counters.inc("forward_retries_total", forwarder=self.forwarder.name)
            if self.attempt == 0:
                log(logger, "forward-retrying", logging.WARNING, forwarder=self.key, count=len(retry))
            return -1
        if self.attempt:
            log(logger, "forward-recovered", forwarder=self.key, attempts=self.attempt)
        self.attempt = 0
        return len(ids)

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake.set()
        self.join(timeout)


def update_gauges(store: Store, counters: Counters, keys: list[str], now: float | None = None) -> dict:
    """Refresh outbox and device gauges from the database; return the outbox figures."""
    now = time.time() if now is None else now
    stats = store.outbox_stats(keys)
    counters.set("outbox_depth", stats["depth"])
    counters.set("outbox_bytes", stats["bytes"])
    oldest = stats["oldest_created"]
    counters.set("outbox_oldest_age_seconds", max(0.0, now - oldest) if oldest is not None else 0.0)
    counters.replace("devices", {(state,): n for state, n in store.count_by("state").items()})
    counters.replace("devices_liveness", {(state,): n for state, n in store.count_by("liveness").items()})
    return stats
