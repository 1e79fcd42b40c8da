"""The fleet's gateway as its own OS process (`reverbere gateway run`), so that a gateway-kill is a real
kill -9: no goodbye, no flush, the broker session and the database left as the crash leaves them.

Its books come from outside the process, as an operator would read them: the Prometheus `/metrics` of its
HTTP API, scraped about twice a second and once more right before a planned kill or stop. Counters start
again from zero in each new process, so a total is the last scrape of every process that ended plus the
latest of the one running (what a killed process counted after its last scrape is not seen: it is at most
half a second of a process that was about to die anyway, and only the counters are affected, never the
data). Gauges (devices by state) are the running process's, or the last ones seen while none runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.errors import Unavailable
from sim.broker import free_port

SCRAPE_EVERY_S = 0.5
METRIC_PREFIX = "reverbere_"
Sample = tuple[str, frozenset[tuple[str, str]]]  # (metric name without the prefix, labels)


def parse_metrics(text: str) -> dict[Sample, float]:
    """The samples of a Prometheus exposition, keyed by (name without `reverbere_`, labels)."""
    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(METRIC_PREFIX):
                samples[(sample.name[len(METRIC_PREFIX):], frozenset(sample.labels.items()))] = sample.value
    return samples


class GatewayProcess:
    """One gateway process at a time on the same database, outbox and broker session."""

    def __init__(self, root: Path, args: list[str], settings: dict[str, dict]):
        """args: `gateway run` flags (broker, db, forward, ...) but --http and --config, which this sets;
        settings: TOML sections for what has no flag."""
        self.root = root
        self.args = args
        self.config_path = root / "gateway.toml"
        self.config_path.write_text(_toml(settings))
        self.log_path = root / "gateway.log"
        self.starts = 0
        self.kills = 0
        self._process: subprocess.Popen | None = None
        self._api: str | None = None
        self._log_offset = 0
        self._lock = threading.Lock()
        self._ended: Counter[Sample] = Counter()  # counters of the processes that ended, summed
        self._latest: dict[Sample, float] = {}  # last scrape of the running process (or of the last one)
        self._stop = threading.Event()
        self._scraper: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> None:
        port = free_port()
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [sys.executable, "-m", "gateway.cli.main", "gateway", "run",
                   "--config", str(self.config_path), *self.args, "--http", f"127.0.0.1:{port}"]
        with open(self.log_path, "ab") as log:
            log.write(_event("gateway-process-starting", command=command))
            log.flush()
            process = subprocess.Popen(command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        with self._lock:
            self._process, self._api = process, f"http://127.0.0.1:{port}"
        self.starts += 1
        if self._scraper is None:
            self._scraper = threading.Thread(target=self._scrape_loop, name="gateway-scraper", daemon=True)
            self._scraper.start()

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def wait_subscribed(self, timeout_s: float = 20.0) -> None:
        """Wait until this process's MQTT ingest is connected and subscribed (its log says connected; the
        SUBACK follows the CONNACK within a round trip)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                code = self._process.returncode if self._process else None
                raise Unavailable(f"the gateway process exited (code {code}): {self.log_tail()}")
            if any(entry.get("logger") == "gateway.ingest" and entry.get("msg") == "broker-connected"
                   for entry in self.log_entries()):
                time.sleep(0.5)
                return
            time.sleep(0.05)
        raise Unavailable(f"the gateway did not connect to the broker within {timeout_s:g}s: "
                          f"{self.log_tail()}")

    def kill(self, ready_within_s: float = 10.0) -> None:
        """kill -9, after one last scrape of its counters. A process still starting (importing, opening
        its database) is given ``ready_within_s`` to be up first, so that the kill lands on a running
        gateway even when faults follow each other faster than a loaded machine starts one."""
        deadline = time.monotonic() + ready_within_s
        while self.alive() and not self._started() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.scrape()
        if self._process is not None:
            self.kills += 1
        self._end(signal.SIGKILL)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM: the gateway finishes the batch in hand and closes (SIGKILL if it does not)."""
        self.scrape()
        self._end(signal.SIGTERM, timeout_s)

    def close(self) -> None:
        self._stop.set()
        if self.alive():
            self.stop()
        if self._scraper is not None:
            self._scraper.join(timeout=5)

    def _end(self, how: signal.Signals, timeout_s: float = 10.0) -> None:
        with self._lock:
            process, self._process = self._process, None
            self._api = None
            if process is None:
                return
            # From now on the process's counters are history: they go to the ended processes' sum.
            self._ended.update({key: value for key, value in self._latest.items() if _is_counter(key)})
            self._latest = {key: value for key, value in self._latest.items() if not _is_counter(key)}
        if process.poll() is None:
            with open(self.log_path, "ab") as log:
                log.write(_event("gateway-process-signalled", pid=process.pid, signal=how.name))
            process.send_signal(how)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # -- books
    def scrape(self) -> bool:
        """Read the running process's /metrics; False when there is none or it does not answer."""
        with self._lock:
            api, process = self._api, self._process
        if api is None:
            return False
        try:
            response = httpx.get(api + "/metrics", timeout=2.0)
            response.raise_for_status()
            samples = parse_metrics(response.text)
        except (httpx.HTTPError, ValueError):
            return False  # not listening yet, or dying
        with self._lock:
            if self._process is not process:
                return False  # it ended meanwhile: its counters were already booked
            self._latest = samples
        return True

    def _scrape_loop(self) -> None:
        while not self._stop.wait(SCRAPE_EVERY_S):
            self.scrape()

    def total(self, name: str, **labels: str) -> float:
        """A counter summed over every process so far (name without `reverbere_`, e.g. `forwarded_total`),
        over the samples whose labels include ``labels``."""
        wanted = set(labels.items())
        with self._lock:
            books = Counter(self._ended)
            books.update({key: value for key, value in self._latest.items() if _is_counter(key)})
        return sum(value for (sample, sample_labels), value in books.items()
                   if sample == name and wanted <= sample_labels)

    def gauge(self, name: str, label: str) -> dict[str, int]:
        """A gauge of the running process (or the last one seen) by one label: {label value: value}."""
        with self._lock:
            latest = dict(self._latest)
        return {dict(labels).get(label, ""): int(value) for (sample, labels), value in latest.items()
                if sample == name and value}

    # -- logs
    def _started(self) -> bool:
        return any(entry.get("logger") == "gateway.daemon" and entry.get("msg") == "started"
                   for entry in self.log_entries())

    def log_entries(self) -> list[dict]:
        """The JSON log lines of the running process (lines that are not JSON are left out)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                lines = log.read().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _event(msg: str, **fields) -> bytes:
    """A line of the fleet's own in the gateway log, in the gateway's format, so one reading tells when
    each process started and how it ended."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    entry = {"ts": stamp, "level": "info", "logger": "sim.fleet", "msg": msg, **fields}
    return (json.dumps(entry) + "\n").encode()


def _is_counter(key: Sample) -> bool:
    return key[0].endswith("_total")


def _toml(settings: dict[str, dict]) -> str:
    """A TOML document of flat sections (strings, numbers, booleans); json quoting is valid TOML quoting."""
    out = []
    for section, table in settings.items():
        out.append(f"[{section}]")
        out += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        out.append("")
    return "\n".join(out)
