"""Hardware-in-the-loop bench: pytest-embedded's `dut` (service `serial`) on a board's console.

Against simulated boards (the default): each test module starts simulated boards running the real
firmware, with their console on a pty, and a private Mosquitto the tests can stop:

    python -m pytest tests/hil

Against a real board flashed with MicroPython and deployed with Reverbère, provisioned to reach a
broker this machine also reaches:

    python -m pytest tests/hil --embedded-services serial --port /dev/ttyUSB0 \\
        --hil-broker 192.168.1.10:1883 --hil-site bench --hil-role sensor

The bench board's config should set ``stable_after_s`` to 2 (as the simulated ones do): the tests reboot
it often, and boots that end sooner count towards safe mode.

(tests that need to stop the broker are skipped on a real board; the broker is not ours to stop).
"""

import threading
import time
from collections import defaultdict

import cbor2
import paho.mqtt.client as mqtt
import pytest

from protocols import messages, topics

# A boot counts as stable (not a crash towards safe mode) after this long; the tests reboot boards often.
STABLE_AFTER_S = 2.0
# The bench checks behaviour, not memory limits (tools/bench_firmware.py does): some headroom over 64K.
BENCH_HEAP = "96K"
ROLE_BOARDS = {"sensor": "esp32-devkitc-sensor", "luminaire": "luminaire-controller", "lifi-rx": "lifi-receiver"}


def pytest_addoption(parser):
    group = parser.getgroup("reverbere-hil")
    group.addoption("--hil-broker", default=None, help="HOST:PORT of the broker a real board reports to")
    group.addoption("--hil-site", default="bench", help="site of the real board")
    group.addoption("--hil-role", default="sensor", help="role of the real board")


def real_board(config) -> bool:
    return bool(config.getoption("port"))


class Wire:
    """What the board says over MQTT on its site: messages by channel, and a way to send commands."""

    def __init__(self, host: str, port: int, site: str):
        self.site = site
        self.seen: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe("%s/%s/+/+" % (topics.PREFIX, site), qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, message):
        _site, node, channel = topics.parse(message.topic)
        payload = cbor2.loads(message.payload)
        with self._lock:
            self.seen[channel].append((node, payload))

    def wait_for(self, channel: str, predicate=lambda node, payload: True, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for node, payload in self.seen[channel]:
                    if predicate(node, payload):
                        return node, payload
            time.sleep(0.05)
        raise AssertionError("no %s message matching within %gs" % (channel, timeout))

    def data_seqs(self, node: str, boot: int) -> list[int]:
        with self._lock:
            return sorted(p[messages.SEQ] for n, p in self.seen["data"] if n == node and p[messages.BOOT] == boot)

    def command(self, node: str, cmd_id: int, op: str) -> None:
        self.client.publish(topics.build(self.site, node, "cmd"), cbor2.dumps(messages.cmd(cmd_id, op)), qos=1)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def broker(request):
    """(host, port, stoppable broker or None)."""
    if real_board(request.config):
        address = request.config.getoption("hil_broker")
        if not address:
            pytest.fail("--port needs --hil-broker HOST:PORT (the broker the board reports to)")
        host, _, port = address.rpartition(":")
        yield host, int(port), None
        return
    from sim.broker import PrivateMosquitto, find_mosquitto
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("the simulated bench needs the mosquitto binary")
    private = PrivateMosquitto(binary)
    yield private.host, private.port, private
    private.close()


@pytest.fixture(scope="module", params=["sensor"])
def role(request):
    return request.config.getoption("hil_role") if real_board(request.config) else request.param


@pytest.fixture(scope="module")
def site(request):
    if real_board(request.config):
        return request.config.getoption("hil_site")
    return "hil-%d" % (int(time.time() * 1000) % 10**8)


@pytest.fixture(scope="module")
def sim_board(request, broker, role, site, tmp_path_factory):
    """The simulated board behind the port (None on a real board)."""
    if real_board(request.config):
        yield None
        return
    from sim.board_process import node_config
    from sim.serial_board import SerialBoard, prepare_application
    host, port, _ = broker
    cfg = node_config(ROLE_BOARDS[role], site, host, port, node_id="%s-hil" % role.replace("-", ""),
                      period=1.0, status_period=2.0, stable_after_s=STABLE_AFTER_S)
    board = SerialBoard(prepare_application(tmp_path_factory.mktemp("flash"), cfg), heap=BENCH_HEAP).start()
    # Powered on and booted, as a board on the bench is before a test opens its port.
    deadline = time.monotonic() + 30
    while "reverbere: boot" not in board.console_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    yield board
    board.close()


@pytest.fixture
def port(request, sim_board):
    """pytest-embedded's port: the real one given with --port, else the simulated board's pty."""
    return request.config.getoption("port") or sim_board.port


@pytest.fixture
def embedded_services(request):
    return request.config.getoption("embedded_services") or "serial"


@pytest.fixture
def wire(broker, site):
    host, port, _ = broker
    observer = Wire(host, port, site)
    yield observer
    observer.close()
