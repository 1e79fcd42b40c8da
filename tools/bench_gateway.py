"""Gateway core benchmark: QoS-1 ingest -> dedup -> durable outbox, against a private Mosquitto.

Figures (printed; `--json` prints one JSON object):
- `bare_msgs_per_s`: a bare paho-mqtt subscriber that only decodes CBOR and acknowledges (same read loop);
- `bare_ingest_reader_msgs_per_s`: the same with the gateway's own MQTT reader
  (`gateway.ingest.IngestClient`), so `ratio_to_bare_ingest_reader` is what the gateway's work costs on top of reading and acknowledging;
- `gateway_msgs_per_s`: one gateway process (validate, dedup, lifecycle, SQLite outbox commit, then PUBACK);
- `ratio_to_bare`: the two above, measured in the same run on the same backlog size;
- `gateway_cpu_cores`, `broker_cpu_cores`: average cores each used while the gateway drained the backlog;
- `forward_observations_per_s`, `forward_entities_per_s`: one forwarder loop draining that gateway's outbox
  to the fake NGSI-LD platform (batch upserts; the platform, in the bench process, validates 1 request in
  `--forward-validate-every`), for `--forward-seconds` at most;
- `shared_two_msgs_per_s`, `shared_speedup`: two gateway processes on one shared subscription, with
  `shared_cpu_cores` (broker, each gateway) telling where the 2 cores went;
- `rss_mb`: peak RSS of the single gateway process, whose inventory then holds `--nodes` devices;
- `latency_p50_ms`, `latency_p99_ms`: node publish -> accepted by the fake NGSI-LD platform at `--rate` msg/s,
  the platform validating every `--validate-every`th request (1: all) against the OpenAPI and SDM files.

Method: the machine has 2 cores and a Python publisher cannot produce 20,000 QoS-1 msg/s next to the
broker and the gateway, so throughput runs drain a backlog: the subscriber's persistent session is created,
the traffic is queued in the broker while it is away, then it connects and the time from its first to its
last message is measured. Broker, publishers and subscribers share the 2 cores. The fake platform runs in
a process of its own (`python -m sim.platform`), as a real platform would be elsewhere.

Quiet-machine run (the figures quoted in reviews): `python tools/bench_gateway.py --json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cbor2  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402

from gateway.config import GatewayConfig  # noqa: E402
from gateway.counters import Counters  # noqa: E402
from gateway.inventory import open_store  # noqa: E402
from protocols import messages, senml  # noqa: E402

SITE = "bench"


def node_id(index: int) -> str:
    return "b0%010x" % index


def birth_payload(node: str) -> bytes:
    hw = {"chip": "esp32", "mac": ":".join(node[i : i + 2] for i in range(0, 12, 2))}
    return cbor2.dumps(
        messages.birth(
            1,
            0,
            int(time.time()),
            "sensor",
            "esp32-devkit",
            hw,
            "0.1.0",
            [["temp", "Cel", 60], ["hum", "%RH", 60]],
            b"\0" * 8,
            "power-on",
            False,
            0,
            0,
        )
    )


def data_payload(seq: int, when: float | int) -> bytes:
    pack = [senml.record("temp", 21.5, "Cel"), senml.record("hum", 40.0, "%RH")]
    return cbor2.dumps(messages.data(1, seq, when, pack))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_broker(directory: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = os.path.join(directory, "mosquitto.conf")
    with open(conf, "w") as handle:
        handle.write(
            "listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
            "max_queued_bytes 0\npersistence false\n" % port
        )
    process = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return process, port


def forget_session(port: int, client_id: str) -> None:
    """End a persistent session, so the broker stops queueing for a subscriber that is gone."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client.connect("127.0.0.1", port, clean_start=True, properties=properties)
    client.loop(0.2)
    client.disconnect()


# -- publishers --------------------------------------------------------------------------------------
def publish_share(port: int, nodes: int, count: int, part: int, parts: int, births: int) -> None:
    """Publish `births` copies of each node's birth, then this part's share of `count` data messages:
    message i goes to node i % nodes with seq i // nodes, and a part publishes only for its own nodes, so
    each node's sequence stays in order."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="pub-%d-%d" % (os.getpid(), part), protocol=mqtt.MQTTv311
    )
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    topics = ["rvb/v1/%s/%s/" % (SITE, node_id(i)) for i in range(nodes)]
    window = []
    for i in range(nodes):
        for _ in range(births):
            window.append(client.publish(topics[i] + "birth", birth_payload(node_id(i)), qos=1))
    now = int(time.time())
    for i in range(count):
        if i % nodes % parts != part:
            continue
        window.append(client.publish(topics[i % nodes] + "data", data_payload(i // nodes, now), qos=1))
        if len(window) > 20000:
            window.pop(0).wait_for_publish()
    for info in window:
        info.wait_for_publish()
    client.disconnect()
    client.loop_stop()


def publish_backlog(port: int, nodes: int, count: int, publishers: int = 2, birth_copies: int = 1) -> None:
    """`nodes` births (`birth_copies` of each), then `count` data messages from `publishers` parallel
    processes."""
    publish_share(port, nodes, 0, 0, 1, births=birth_copies)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "publish",
                "--port",
                str(port),
                "--nodes",
                str(nodes),
                "--messages",
                str(count),
                "--part",
                str(part),
                "--parts",
                str(publishers),
            ]
        )
        for part in range(publishers)
    ]
    for proc in procs:
        proc.wait()


# -- subscribers (run as separate processes) ---------------------------------------------------------------
def bare_subscriber(port: int, count: int, prime: bool, reader: str = "paho") -> dict:
    """Decode and acknowledge only. `reader`: "paho" (paho-mqtt as shipped) or "ingest" (the gateway's
    `IngestClient`, i.e. the gateway's own read and acknowledgement path without any of its work)."""
    import select

    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from gateway.ingest import IngestClient

    state = {"n": 0, "first": None, "last": None}
    pending: list[int] = []

    def receive(topic, payload, mid):
        cbor2.loads(payload)
        pending.append(mid)
        if topic.endswith("/data"):  # births are not the sustained load: time data only
            now = time.time()
            state["first"] = state["first"] or now
            state["last"] = now
            state["n"] += 1

    kind = IngestClient if reader == "ingest" else mqtt.Client
    client = kind(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bare-" + reader, protocol=mqtt.MQTTv5, manual_ack=True
    )
    client.on_message = lambda client, userdata, message: receive(message.topic, message.payload, message.mid)
    if reader == "ingest":
        client.sink = lambda topic, payload, mid, qos: receive(topic, payload, mid)
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = 5000
    properties.SessionExpiryInterval = 600
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    if prime:
        client.subscribe("rvb/v1/+/+/+", qos=1)
        for _ in range(20):
            client.loop(0.05)
        client.disconnect()
        return {}
    sock = client.socket()
    while state["n"] < count:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            for _ in range(1000):
                before = state["n"]
                client.loop_read()
                if state["n"] == before:
                    break
        if len(pending) >= 1000 or (pending and not readable):
            if reader == "ingest":
                client.ack_many(pending)
            else:
                for mid in pending:
                    client.ack(mid, 1)
            pending.clear()
        if client.want_write():
            client.loop_write()
        client.loop_misc()
    return {"count": state["n"], "first": state["first"], "last": state["last"]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_worker(
    port: int,
    count: int,
    prime: bool,
    db: str,
    client_id: str,
    share: str | None,
    forward: str | None,
    latency_out: str | None,
) -> dict:
    from gateway.ingest import IngestCore, MqttIngest

    config = replace(
        GatewayConfig(),
        broker="mqtt://127.0.0.1:%d" % port,
        db=db,
        client_id=client_id,
        share=share,
        auto_approve=True,
        session_expiry_s=600,
        http=None,
        forward=(forward,) if forward else (),
    )
    store = open_store(db)
    counters = Counters()
    stop = threading.Event()
    core = IngestCore(store, counters, config)
    core.preload()
    ingest = MqttIngest(core, config)
    if prime:
        ingest.connect()
        for _ in range(20):
            ingest.client.loop(0.05)
        ingest.client.disconnect()
        return {}
    loops = []
    if forward:
        from gateway.forwarders.base import from_url
        from gateway.outbox import ForwarderLoop, forwarder_key

        forwarder = LatencyProbe(from_url(forward))
        key = forwarder_key(forward)
        loops.append(ForwarderLoop(store, forwarder, key, counters, [key], batch=200, backoff_initial_s=0.05))
        ingest.on_commit = loops[0].wake.set
        loops[0].start()
    times = {"first": None, "received": None, "data": 0, "all": 0}
    original = ingest._receive

    def receive(topic, payload, mid, qos):
        times["received"] = time.time()
        times["all"] += 1
        if topic.endswith("/data"):  # births are not the sustained load: time data only
            if times["first"] is None:
                times["first"], times["cpu_first"] = times["received"], time.process_time()
            times["data"] += 1
        original(topic, payload, mid, qos)

    ingest._receive = receive  # what paho's on_message path calls
    ingest.client.sink = receive  # what the fast PUBLISH path calls

    def committed() -> float:
        # Every message is counted once by the commit that settles it; downlinks (the rebirth commands this
        # gateway publishes come back to it) are "ignored".
        return (
            counters.total("messages_ingested_total")
            + counters.value("duplicates_total")
            + counters.total("messages_rejected_total")
            + counters.total("messages_ignored_total")
        )

    forward_wake = ingest.on_commit

    def on_commit() -> None:
        times["committed_at"], times["cpu_last"] = time.time(), time.process_time()
        if forward_wake:
            forward_wake()

    ingest.on_commit = on_commit

    def watch() -> None:
        # Done when `count` data messages are in and committed, or when traffic stopped for 3 s (a member
        # of a shared subscription may get less than its half). The run ends at the last commit.
        while times["data"] < count or committed() < times["all"]:
            active = max(times["received"] or 0.0, times.get("committed_at") or 0.0)
            if times["received"] and time.time() - active > 3.0:
                break  # neither a message nor a commit for 3 s: this member got all it will get
            time.sleep(0.005)
        times["last"] = times.get("committed_at") or time.time()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    ingest.run(stop)
    deadline = time.time() + 30
    while loops and time.time() < deadline and store.outbox_stats([loops[0].key])["depth"]:
        time.sleep(0.05)  # let the forwarder deliver what was committed last
    for loop in loops:
        loop.shutdown()
    if latency_out:
        with open(latency_out, "w") as handle:
            json.dump(loops[0].forwarder.latencies, handle)
    with open("/proc/self/status") as handle:
        peak_kb = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    devices = len(store.list_devices())
    return {
        "count": times["data"],
        "first": times["first"],
        "last": times["last"],
        "rss_mb": round(peak_kb / 1024, 1),
        "devices": devices,
        "cpu_s": times["cpu_last"] - times["cpu_first"] if times["first"] else 0.0,
    }


class LatencyProbe:
    """A forwarder wrapper recording, for each accepted observation, now - its node timestamp."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.latencies: list[float] = []

    def send(self, batch):
        result = self.inner.send(batch)
        now = time.time()
        done = set(result.done)
        for envelope in batch:
            if envelope.id in done and envelope.kind == "observation" and envelope.payload["time"]:
                self.latencies.append(now - envelope.payload["time"])
        return result

    def close(self) -> None:
        self.inner.close()


def run_worker(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__] + args, stdout=subprocess.PIPE)


def result_of(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    return json.loads(out.decode().strip().splitlines()[-1])


def rate(results: list[dict]) -> float:
    count = sum(r["count"] for r in results)
    return count / (max(r["last"] for r in results) - min(r["first"] for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="all", choices=["all", "publish", "bare", "gateway"])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1000, help="msg/s of the latency run")
    parser.add_argument("--latency-seconds", type=int, default=15)
    parser.add_argument(
        "--validate-every",
        type=int,
        default=1,
        help="the fake platform validates every Nth request against the specs (0: never)",
    )
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput runs")
    parser.add_argument("--no-shared", action="store_true", help="skip the shared-subscription run")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency run")
    parser.add_argument(
        "--forward-seconds", type=float, default=20, help="forwarder drain run length (0: skip it)"
    )
    parser.add_argument("--forward-validate-every", type=int, default=100)
    parser.add_argument("--reader", default="paho", choices=["paho", "ingest"])
    parser.add_argument("--json", action="store_true")
    # worker options
    parser.add_argument("--port", type=int)
    parser.add_argument("--part", type=int)
    parser.add_argument("--parts", type=int)
    parser.add_argument("--prime", action="store_true")
    parser.add_argument("--db")
    parser.add_argument("--client-id")
    parser.add_argument("--share")
    parser.add_argument("--forward")
    parser.add_argument("--latency-out")
    args = parser.parse_args()
    if args.mode == "publish":
        publish_share(args.port, args.nodes, args.messages, args.part, args.parts, births=0)
        return
    if args.mode == "bare":
        print(json.dumps(bare_subscriber(args.port, args.messages, args.prime, args.reader)))
        return
    if args.mode == "gateway":
        from gateway import logs

        logs.configure("error")
        print(
            json.dumps(
                gateway_worker(
                    args.port,
                    args.messages,
                    args.prime,
                    args.db,
                    args.client_id,
                    args.share,
                    args.forward,
                    args.latency_out,
                )
            )
        )
        return
    figures = run_all(args)
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print("%-28s %s" % (name, value))


def run_all(args) -> dict:
    figures: dict = {
        "messages": args.messages,
        "nodes": args.nodes,
        "cores": os.cpu_count(),
        "store": "sqlite WAL synchronous=NORMAL",
    }
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(tmp)
        try:
            if args.latency_only:
                figures.update(latency_run(port, tmp, args))
                return figures
            common = ["--port", str(port), "--messages", str(args.messages)]
            # bare subscribers: paho as shipped, then the gateway's own reader
            bare_rates = {}
            for reader in ("paho", "ingest"):
                bare_args = ["bare", "--reader", reader] + common
                result_of(run_worker(bare_args + ["--prime"]))
                publish_backlog(port, args.nodes, args.messages)
                bare_rates[reader] = rate([result_of(run_worker(bare_args))])
                forget_session(port, "bare-" + reader)
            figures["bare_msgs_per_s"] = round(bare_rates["paho"])
            figures["bare_ingest_reader_msgs_per_s"] = round(bare_rates["ingest"])
            # one gateway process
            db = "sqlite:///%s" % os.path.join(tmp, "one.db")
            gw = ["gateway", "--db", db, "--client-id", "gw-one"] + common
            result_of(run_worker(gw + ["--prime"]))
            publish_backlog(port, args.nodes, args.messages)
            broker_cpu = cpu_seconds(broker.pid)
            one = result_of(run_worker(gw))
            broker_cpu = cpu_seconds(broker.pid) - broker_cpu
            one_rate = rate([one])
            drain_s = one["last"] - one["first"]
            figures["gateway_msgs_per_s"] = round(one_rate)
            figures["ratio_to_bare"] = round(one_rate / bare_rates["paho"], 2)
            figures["ratio_to_bare_ingest_reader"] = round(one_rate / bare_rates["ingest"], 2)
            figures["gateway_cpu_cores"] = round(one["cpu_s"] / drain_s, 2)
            figures["broker_cpu_cores"] = round(broker_cpu / drain_s, 2)  # its idle start-up time included
            figures["rss_mb"] = one["rss_mb"]
            figures["devices_in_inventory"] = one["devices"]
            forget_session(port, "gw-one")
            if args.forward_seconds:
                figures.update(forward_run(db, args))
            if not args.no_shared:
                figures.update(shared_run(port, tmp, args, one_rate, broker.pid))
            if not args.no_latency:
                figures.update(latency_run(port, tmp, args))
        finally:
            broker.terminate()
            broker.wait()
    return figures


@contextlib.contextmanager
def platform_process(validate_every: int):
    """The fake NGSI-LD platform in a process of its own, as a real platform is: (url, forward_url)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.platform", "--port", str(free_port()), "--validate-every",
         str(validate_every)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        urls = json.loads(process.stdout.readline())
        yield urls["url"], urls["forward_url"], process.pid
    finally:
        process.terminate()
        process.wait(10)


def platform_stats(url: str) -> dict:
    import httpx

    stats = httpx.get(url + "/_platform/stats", timeout=30).json()
    return {**stats["counters"], "rejections": stats["rejections"]}


def forward_run(db: str, args) -> dict:
    """Drain the outbox the single-gateway run filled, with one forwarder loop, to the fake platform."""
    from gateway.forwarders.base import from_url
    from gateway.outbox import ForwarderLoop, forwarder_key

    store = open_store(db)
    try:
        with platform_process(args.forward_validate_every) as (platform_url, forward_url, platform_pid):
            key = forwarder_key(forward_url)
            loop = ForwarderLoop(store, from_url(forward_url), key, Counters(), [key])
            before = store.outbox_stats([key])["depth"]
            start = time.time()
            cpu = time.process_time(), cpu_seconds(platform_pid)
            loop.start()
            deadline = start + args.forward_seconds
            while time.time() < deadline and store.outbox_stats([key])["depth"]:
                time.sleep(0.1)
            loop.shutdown()
            elapsed = time.time() - start
            forwarder_cpu = time.process_time() - cpu[0]
            platform_cpu = cpu_seconds(platform_pid) - cpu[1]
            done = before - store.outbox_stats([key])["depth"]
            entities = platform_stats(platform_url).get("entities_accepted", 0)
    finally:
        store.close()
    return {
        "forward_observations_per_s": round(done / elapsed),
        "forward_entities_per_s": round(entities / elapsed),
        "forward_validate_every": args.forward_validate_every,
        "forward_cpu_cores": {
            "forwarder": round(forwarder_cpu / elapsed, 2),
            "platform": round(platform_cpu / elapsed, 2),
        },
    }


def shared_run(port: int, tmp: str, args, one_rate: float, broker_pid: int) -> dict:
    """Two gateway processes on one shared subscription, each with its own database."""
    workers = []
    for k in range(2):
        db = "sqlite:///%s" % os.path.join(tmp, "shared%d.db" % k)
        workers.append(
            [
                "gateway",
                "--db",
                db,
                "--client-id",
                "gw-shared-%d" % k,
                "--share",
                "bench",
                "--port",
                str(port),
                "--messages",
                str(args.messages // 2),
            ]
        )
    for worker in workers:
        result_of(run_worker(worker + ["--prime"]))
    # The broker hands each message to one member in turn: two copies of each birth (consecutive, so one
    # to each member) give both members the whole inventory before the data, as the single gateway has.
    # Data then alternate: each member sees every other message of a node (no gap is recorded for it).
    publish_backlog(port, args.nodes, args.messages, birth_copies=2)
    # Each stops at half; the last messages are counted by whichever finished them.
    broker_cpu = cpu_seconds(broker_pid)
    shared = [result_of(p) for p in [run_worker(w) for w in workers]]
    broker_cpu = cpu_seconds(broker_pid) - broker_cpu
    drain_s = max(r["last"] for r in shared) - min(r["first"] for r in shared)
    return {
        "shared_two_msgs_per_s": round(rate(shared)),
        "shared_speedup": round(rate(shared) / one_rate, 2),
        "shared_cpu_cores": {
            "broker": round(broker_cpu / drain_s, 2),
            "gateways": [round(r["cpu_s"] / drain_s, 2) for r in shared],
        },
    }


def latency_run(port: int, tmp: str, args) -> dict:
    total = args.rate * args.latency_seconds
    latency_file = os.path.join(tmp, "latency.json")
    with platform_process(args.validate_every) as (platform_url, forward_url, _):
        db = "sqlite:///%s" % os.path.join(tmp, "latency.db")
        worker = run_worker(
            [
                "gateway",
                "--db",
                db,
                "--client-id",
                "gw-latency",
                "--port",
                str(port),
                "--messages",
                str(total),
                "--forward",
                forward_url,
                "--latency-out",
                latency_file,
            ]
        )
        time.sleep(2.0)  # let it connect and subscribe
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="pub-latency", protocol=mqtt.MQTTv311
        )
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", port)
        client.loop_start()
        nodes = 100
        for i in range(nodes):
            client.publish("rvb/v1/%s/%s/birth" % (SITE, node_id(i)), birth_payload(node_id(i)), qos=1)
        start = time.time()
        for i in range(total):
            target = start + i / args.rate
            delay = target - time.time()
            if delay > 0:
                time.sleep(delay)
            client.publish(
                "rvb/v1/%s/%s/data" % (SITE, node_id(i % nodes)), data_payload(i // nodes, time.time()), qos=1
            )
        worker.wait(120)  # it stops once every data message is committed and forwarded
        client.disconnect()
        client.loop_stop()
        platform = platform_stats(platform_url)
    with open(latency_file) as handle:
        latencies = sorted(json.load(handle))
    if not latencies:
        return {"latency_samples": 0}
    return {
        "latency_rate_msgs_per_s": args.rate,
        "latency_samples": len(latencies),
        "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "platform_validate_every": args.validate_every,
        "platform_requests": platform.get("upsert_requests", 0),
        "platform_requests_validated": platform.get("requests_validated", 0),
        "platform_rejections": platform["rejections"],
    }


if __name__ == "__main__":
    main()
