"""A board on the bench: boot, birth, data, commands and recovery from a broker outage, through its serial
console (pytest-embedded `dut`) and its MQTT traffic. The same file runs on a real board (see conftest)."""

import re
import time

import pexpect
import pytest

from protocols import messages
from tests.hil.conftest import STABLE_AFTER_S

pytestmark = [pytest.mark.micropython, pytest.mark.broker]

BOOT_LINE = re.compile(rb"reverbere: boot (\d+), node ([\w-]+), role ([\w-]+)")


def interrupt(dut) -> None:
    """Ctrl-C into the REPL; sent again if the first one came while the board was still starting."""
    for attempt in range(3):
        dut.write("\x03")
        try:
            dut.expect_exact(">>> ", timeout=5)
            return
        except pexpect.TIMEOUT:
            if attempt == 2:
                raise


def reboot(dut) -> tuple[int, str, str]:
    """Ctrl-C the application into the REPL, Ctrl-D soft reset: main.py runs again and the firmware boots.
    -> (boot counter, node id, role) from the boot line."""
    interrupt(dut)
    dut.write("\x04")
    match = dut.expect(BOOT_LINE, timeout=30)
    boot, node, role = (g.decode() if isinstance(g, bytes) else g for g in match.groups())
    time.sleep(STABLE_AFTER_S + 0.5)  # let the boot become stable before the next reboot
    return int(boot), node, role


@pytest.mark.parametrize("role", ["sensor", "luminaire"], indirect=True, scope="module")
def test_boot_announces_node_and_role(dut, role):
    boot, _, announced = reboot(dut)
    assert announced == role and boot >= 1


def test_repl_answers_between_runs(dut):
    interrupt(dut)
    dut.write("import sys; print('impl', sys.implementation.name, 6 * 7)")
    dut.expect(r"impl micropython 42", timeout=10)
    dut.write("\x04")  # back to the application
    dut.expect(BOOT_LINE, timeout=30)


def test_birth_then_data_after_boot(dut, wire):
    boot, node, _ = reboot(dut)
    _, birth = wire.wait_for("birth", lambda n, p: n == node and p[messages.BOOT] == boot)
    assert birth[messages.ROLE] == "sensor" and birth[messages.RESET] == "soft"
    wire.wait_for("data", lambda n, p: n == node and p[messages.BOOT] == boot and p[messages.SEQ] >= 2)
    seqs = wire.data_seqs(node, boot)
    assert seqs == list(range(len(seqs)))  # dense from 0


def test_command_is_acknowledged(dut, wire):
    _, node, _ = reboot(dut)
    wire.wait_for("birth", lambda n, p: n == node)
    wire.command(node, 4242, "status")
    _, ack = wire.wait_for("ack", lambda n, p: n == node and p[messages.ID] == 4242)
    assert ack[messages.RESULT] == "ok"


def test_broker_outage_recovery_delivers_every_reading(request, dut, wire, broker):
    _, _, private = broker
    if private is None:
        pytest.skip("on a real board the broker is not ours to stop")
    boot, node, _ = reboot(dut)
    wire.wait_for("data", lambda n, p: n == node and p[messages.BOOT] == boot and p[messages.SEQ] >= 1)
    private.stop()
    time.sleep(4.0)  # the board keeps measuring into its ring buffer
    private.start()
    before = max(wire.data_seqs(node, boot))
    wire.wait_for("data", lambda n, p: n == node and p[messages.BOOT] == boot and p[messages.SEQ] >= before + 5,
                  timeout=40)
    # Replay of the buffered readings is throttled and interleaves with live ones: give it time to finish.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seqs = wire.data_seqs(node, boot)
        if sorted(set(seqs)) == list(range(max(seqs) + 1)):
            break
        time.sleep(0.2)
    assert sorted(set(seqs)) == list(range(max(seqs) + 1))  # nothing missing across the outage
