"""`python -m sim.platform --port N`: serve the fake NGSI-LD platform until interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path

from sim.platform.server import FakePlatform


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.platform", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1026)
    parser.add_argument("--specs", type=Path, default=None,
                        help="specification folder (default: $REVERBERE_SPECS or ../shared/specs)")
    parser.add_argument("--validate-every", type=int, default=1, metavar="N",
                        help="check every Nth request against the OpenAPI file and Smart Data Models "
                             "(default 1: all; 0: none, for throughput benchmarks)")
    parser.add_argument("--received-limit", type=int, default=1000,
                        help="request summaries kept for /_platform/received (oldest dropped first, counted)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    platform = FakePlatform(args.host, args.port, args.specs, validate_every=args.validate_every,
                            received_limit=args.received_limit).start()
    print(json.dumps({"url": platform.url, "forward_url": platform.forward_url}), flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    platform.stop()
    print(json.dumps(platform.stats()["counters"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
