"""Feed the gateway's ingest core hostile payloads and check every one is counted, none crashes it.

Default: 100,000 messages (random bytes, truncated, huge-length, deeply nested and oversized CBOR, valid CBOR
of wrong types, mutated valid messages, wrong topics) through IngestCore with a SQLite store, committed in
batches of 1,000 as the daemon does. Prints the counts by outcome; `--json` prints one JSON object.
Exit status 1 if the counts do not add up to the number of messages.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor2  # noqa: E402

from gateway.config import GatewayConfig  # noqa: E402
from gateway.counters import Counters  # noqa: E402
from gateway.ingest import IngestCore  # noqa: E402
from gateway.inventory import open_store  # noqa: E402
from protocols import messages, senml  # noqa: E402

CHANNELS = ("data", "birth", "death", "status", "evt", "ack", "cmd", "ota")


def valid_samples(now: int) -> list[tuple[str, bytes]]:
    pack = [senml.record("temp", 21.5, "Cel")]
    hw = {"chip": "esp32", "mac": "a0:b1:c2:00:00:01"}
    return [
        ("data", cbor2.dumps(messages.data(1, 5, now, pack))),
        (
            "birth",
            cbor2.dumps(
                messages.birth(
                    1,
                    0,
                    now,
                    "sensor",
                    "esp32-devkit",
                    hw,
                    "0.1.0",
                    [["temp", "Cel", 60]],
                    b"\0" * 8,
                    "power-on",
                    False,
                    0,
                    0,
                )
            ),
        ),
        ("death", cbor2.dumps(messages.death(1))),
        ("status", cbor2.dumps(messages.status(1, 0, now, 100, 50000, 20000, -60, 0, 0, {}, 60, {}))),
        ("evt", cbor2.dumps(messages.evt(1, 0, now, "sensor-fault", {"part": "bme280"}))),
        ("ack", cbor2.dumps(messages.ack(1, 0, now, 7, "ok"))),
    ]


def hostile(rng: random.Random, samples: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    channel, valid = rng.choice(samples)
    kind = rng.randrange(9)
    if kind == 0:
        return channel, rng.randbytes(rng.randint(0, 200))
    if kind == 1:
        return channel, valid[: rng.randrange(len(valid))]
    if kind == 2:  # a byte string or array declaring a length far beyond the payload
        return channel, bytes([rng.choice([0x5B, 0x7B, 0x9B, 0xBB])]) + rng.randbytes(8)
    if kind == 3:
        depth = rng.randint(17, 5000)
        return channel, b"\x81" * depth + b"\x00"
    if kind == 4:
        return channel, b"\x59\xff\xff" + b"\x00" * 70000
    if kind == 5:  # valid CBOR, wrong types or shapes
        value = rng.choice(
            [
                [],
                "text",
                3.5,
                None,
                {1: "x", 2: -1},
                {"1": 1},
                {1: 1, 2: 2, 3: [], 4: [{}]},
                {1: 2**70, 2: 0, 3: 1, 4: [{0: "temp", 2: "hot"}]},
                cbor2.CBORTag(99, 1),
            ]
        )
        return channel, cbor2.dumps(value)
    if kind == 6:
        blob = bytearray(valid)
        for _ in range(rng.randint(1, 5)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        return channel, bytes(blob)
    if kind == 7:
        return rng.choice(CHANNELS + ("bogus", "", "data/extra")), valid
    return channel, valid


def topic_for(rng: random.Random, channel: str, index: int) -> str:
    if rng.random() < 0.05:
        return rng.choice(
            [
                "rvb/v1/fuzz/UPPER/data",
                "rvb/v1//x/data",
                "rvb/v2/fuzz/n1/data",
                "rvb/v1/fuzz/" + "n" * 40 + "/data",
                "rvb/v1/-fuzz/n1/birth",
                "other",
            ]
        )
    return "rvb/v1/fuzz/f%05d/%s" % (index % 500, channel)


def run(count: int, seed: int) -> dict:
    rng = random.Random(seed)
    samples = valid_samples(int(time.time()))
    outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store("sqlite:///%s" % os.path.join(tmp, "fuzz.db"))
        counters = Counters()
        core = IngestCore(store, counters, replace(GatewayConfig(), auto_approve=True, http=None))
        started = time.time()
        for index in range(count):
            channel, payload = hostile(rng, samples)
            outcomes[core.handle(topic_for(rng, channel, index), payload, time.time())] += 1
            if index % 1000 == 999:
                core.commit(time.time())
        core.commit(time.time())
        elapsed = time.time() - started
        store.close()
    rejected = counters.snapshot()["messages_rejected_total"]
    counted = (
        sum(rejected.values())
        + counters.value("messages_ingested_total")
        + counters.value("duplicates_total")
        + counters.total("messages_ignored_total")
    )
    return {
        "messages": count,
        "counted": int(counted),
        "reconciles": int(counted) == count,
        "seconds": round(elapsed, 1),
        "outcomes": dict(outcomes.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.count, args.seed)
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print("%-12s %s" % (name, value))
    sys.exit(0 if figures["reconciles"] else 1)


if __name__ == "__main__":
    main()
