"""The fleet runner end to end: real broker, gateway, fake platform and boards running the real firmware,
with faults applied on schedule; the reconciliation must come out exact."""

import pytest

from sim import faults
from sim.fleet import FleetSpec, check_plan, run_fleet
from sim.ntp import NTP_DELTA, answer

pytestmark = [pytest.mark.micropython, pytest.mark.broker]


@pytest.fixture
def port():
    """pytest-embedded's autouse `parametrize_fixtures` asks every test for `port`; the one in conftest.py
    boots a blank board. These tests need no console, so theirs is nothing."""


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


def test_gateway_killed_twice_mid_stream_reconciles_exactly(tmp_path):
    """kill -9 of the gateway process while boards publish every second, twice, a new process each time on
    the same inventory, outbox and broker session: nothing lost, nothing observed twice."""
    plan = faults.parse("gateway-kill@3+1,gateway-kill@10+1")
    result = run_fleet(FleetSpec(nodes=3, duration_s=14, period_s=1.0, faults=plan, workdir=tmp_path))
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["produced"] >= 3 * 12 and result["forwarded"] == result["produced"] == result["received"]
    assert result["gateway_kills"] == 2 and result["gateway_restarts"] == 2
    assert result["devices"] == {"active": 3}
    assert [board["restarts"] for board in result["boards"]] == [0, 0, 0]
    log = (tmp_path / "gateway.log").read_text()
    assert log.count('"signal": "SIGKILL"') == 2 and log.count('"msg": "started"') == 3


def test_platform_timeouts_and_partial_failures_reconcile_exactly(tmp_path):
    """The platform answers too late (having stored the batch), then 207 with part of each batch failed:
    the re-sent readings are idempotent upserts, booked as redelivered, not as duplicates."""
    plan = faults.parse("platform-down@2+4:timeout,platform-down@7+3:207")
    result = run_fleet(FleetSpec(nodes=2, duration_s=11, period_s=1.0, faults=plan, workdir=tmp_path))
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["produced"] >= 2 * 8 and result["forwarded"] == result["produced"]
    assert result["redelivered"] > 0 and result["forward_retries"] > 0
    assert result["platform_failures"].get("fault-entity", 0) > 0  # the 207s
    assert result["devices"] == {"active": 2}


@pytest.mark.parametrize("plan, message", [
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
