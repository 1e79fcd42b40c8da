"""Forwarder loops over the durable outbox, with a test double behind the Forwarder interface."""

from __future__ import annotations

import json
import threading

from gw_support import NOW

from gateway.counters import Counters
from gateway.forwarders.base import Envelope, SendResult
from gateway.inventory import Batch, open_store
from gateway.outbox import ForwarderLoop, backoff_delay, forwarder_key, settle, update_gauges


class FlakyPlatform:
    """Fails whole sends `failures` times, refuses seq 3 for good, then accepts; records what it accepted."""

    name = "double"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.accepted: list[int] = []
        self.calls = 0
        self.done = threading.Event()

    def send(self, batch: list[Envelope]) -> SendResult:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("platform down")
        result = SendResult()
        for envelope in batch:
            if envelope.payload["seq"] == 3:
                result.rejected[envelope.id] = "bad-entity"
            elif envelope.payload["seq"] == 5 and self.calls == 4:
                result.retry.append(envelope.id)  # one transient failure inside a batch
            else:
                result.done.append(envelope.id)
                self.accepted.append(envelope.payload["seq"])
        if len(self.accepted) == 9:
            self.done.set()
        return result

    def close(self) -> None:
        pass


def test_backoff_doubles_up_to_the_cap_with_jitter():
    assert [backoff_delay(n, 1.0, 10.0, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert backoff_delay(3, 1.0, 10.0, rand=lambda: 0.0) == 2.0


def test_settle_retries_ids_a_forwarder_forgot():
    done, retry, rejected = settle([1, 2, 3, 4], SendResult(done=[1], rejected={3: "x"}))
    assert (done, retry, rejected) == ([1], [2, 4], {3: "x"})


def test_forwarder_key_hides_credentials():
    assert forwarder_key("ngsi-ld+http://user:pw@platform:1026/x?y=1") == "ngsi-ld+http://platform:1026/x"


def test_loop_delivers_in_order_through_failures_and_counts(tmp_path):
    store = open_store("sqlite:///%s" % (tmp_path / "o.db"))
    store.commit_batch(
        Batch(outbox=[("observation", "n", json.dumps({"seq": i}), NOW) for i in range(10)]), 10**9, 10
    )
    platform, counters = FlakyPlatform(failures=2), Counters()
    loop = ForwarderLoop(
        store, platform, "double:", counters, ["double:"], batch=4, backoff_initial_s=0.01, backoff_max_s=0.05
    )
    loop.start()
    assert platform.done.wait(20)
    loop.shutdown()
    assert platform.accepted == [0, 1, 2, 4, 6, 7, 5, 8, 9]
    assert counters.value("forwarded_total", forwarder="double") == 9
    assert counters.value("forward_rejected_total", forwarder="double", reason="bad-entity") == 1
    assert counters.value("forward_retries_total", forwarder="double") == 3
    assert store.outbox_stats(["double:"])["depth"] == 0 and store.outbox_bytes == 0
    store.close()


def test_gauges_show_depth_bytes_and_oldest_age(tmp_path):
    store = open_store("sqlite:///%s" % (tmp_path / "g.db"))
    items = [("observation", "n", json.dumps({"seq": i}), NOW + i) for i in range(3)]
    store.commit_batch(Batch(outbox=items), 10**9, 10)
    counters = Counters()
    stats = update_gauges(store, counters, ["a"], now=NOW + 10)
    assert stats["depth"] == 3 and counters.value("outbox_depth") == 3
    assert counters.value("outbox_oldest_age_seconds") == 10.0
    assert counters.value("outbox_bytes") == store.outbox_bytes > 0
    store.close()
