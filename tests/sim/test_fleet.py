"""The fleet runner end to end: real broker, gateway, fake platform and boards running the real firmware,
with faults applied on schedule; the reconciliation must come out exact."""

import pytest

from sim import faults
from sim.fleet import FleetSpec, check_plan, run_fleet
from sim.ntp import NTP_DELTA, answer

pytestmark = [pytest.mark.micropython, pytest.mark.broker]


def test_every_supported_fault_in_one_run_reconciles_exactly(tmp_path):
    plan = faults.parse("broker-outage@4+4,power-cycle@6:node-001,platform-down@9+5,"
                        "partition@12+4:node-00[02],gateway-kill@15+3,sensor-fault@17+3:node-001")
    ticks = []
    result = run_fleet(FleetSpec(nodes=3, duration_s=22, period_s=2.0, faults=plan, workdir=tmp_path),
                       on_tick=ticks.append)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["produced"] >= 3 * 8 and result["forwarded"] == result["produced"]
    assert result["received"] == result["produced"]
    # The faults happened: a private broker was stopped, node-001 rebooted, the gateway came back,
    # the platform's 503s made the forwarder retry.
    assert result["broker"] == "mosquitto"
    restarts = {board["id"]: board["restarts"] for board in result["boards"]}
    assert restarts == {"node-000": 0, "node-001": 1, "node-002": 0}
    assert result["gateway_restarts"] == 1 and result["forward_retries"] > 0
    assert result["devices"] == {"active": 3}
    assert all(board["role"] == "sensor" and board["heap_peak_bytes"] > 0 and board["memory_errors"] == 0
               for board in result["boards"])
    assert any("fault begin power-cycle@6:node-001" in line for line in ticks)
    assert set(result) >= {"produced", "received", "forwarded", "lost", "duplicates", "dropped_counted",
                           "devices", "boards"}


@pytest.mark.parametrize("plan, message", [
    ("clock-skew@1+5:node-000", "not supported"),
    ("power-cycle@1:lum-*", "no board matches"),
    ("broker-outage@50+5", "after the end of the run"),
])
def test_plans_the_runner_cannot_apply_are_refused_before_starting(plan, message):
    with pytest.raises(faults.FaultPlanError, match=message):
        check_plan(FleetSpec(nodes=2, duration_s=20, faults=faults.parse(plan)))


def test_ntp_answer_carries_the_time_and_echoes_the_client_stamp():
    request = bytearray(48)
    request[0] = 0x1B
    request[40:48] = b"ORIGINAL"
    reply = answer(bytes(request), 1767225600.5)
    assert reply[0] & 0x07 == 4 and reply[1] == 2 and reply[24:32] == b"ORIGINAL"
    assert int.from_bytes(reply[40:44], "big") - NTP_DELTA == 1767225600
    assert int.from_bytes(reply[44:48], "big") == 1 << 31
    assert answer(b"\x24" + bytes(47), 0.0) is None  # a server packet is not a request
