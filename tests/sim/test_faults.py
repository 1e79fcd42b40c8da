"""Fault plans: parsing and the precise errors of `--faults`."""

import pytest

from gateway.errors import InvalidInput as InvalidInputError
from sim import faults
from sim.faults import Fault, FaultPlanError


@pytest.fixture
def port():
    """pytest-embedded's autouse `parametrize_fixtures` asks every test for `port`; the one in conftest.py
    boots a blank board. These tests need no console, so theirs is nothing."""


def test_parses_every_form_in_start_order():
    plan = faults.parse("power-cycle@45:node-003, broker-outage@20+15,partition@1m+10s:node-00*,"
                        "platform-down@10+20")
    assert plan == [
        Fault("platform-down", 10.0, 20.0, None),
        Fault("broker-outage", 20.0, 15.0, None),
        Fault("power-cycle", 45.0, None, "node-003"),
        Fault("partition", 60.0, 10.0, "node-00*"),
    ]
    assert plan[3].end_s == 70.0
    assert plan[3].matches("node-007") and not plan[3].matches("lum-001")
    assert str(plan[3]) == "partition@60+10:node-00*"


def test_platform_down_names_how_the_platform_fails():
    plan = faults.parse("platform-down@1+2,platform-down@5+2:timeout,platform-down@9+2:207,"
                        "platform-down@12+2:503")
    assert [fault.target for fault in plan] == [None, "timeout", "207", "503"]
    assert str(plan[1]) == "platform-down@5+2:timeout" and faults.parse(str(plan[1])) == [plan[1]]
    assert faults.unmatched(plan, ["node-000"]) == []  # a failure mode is not a board glob


def test_empty_plan_has_no_faults():
    assert faults.parse("") == [] and faults.parse(None) == []


@pytest.mark.parametrize("plan, message", [
    ("meteor@10", "unknown kind 'meteor'"),
    ("broker-outage", "expected KIND@START"),
    ("broker-outage@soon+5", "start 'soon' is not a time"),
    ("broker-outage@5+ever", "duration 'ever' is not a time"),
    ("broker-outage@5", "needs a duration"),
    ("partition@5+5", "needs a target"),
    ("gateway-kill@5+5:node-001", "acts on a service"),
    ("platform-down@5+5:node-001", "platform-down fails as one of :503, :timeout, :207, not 'node-001'"),
    ("platform-down@5:timeout", "needs a duration"),
    ("power-cycle@5:node-001,,platform-down@1+1", "empty item"),
])
def test_rejects_with_a_precise_reason(plan, message):
    with pytest.raises(FaultPlanError, match=message):
        faults.parse(plan)


def test_fault_plan_error_is_invalid_input_for_the_cli():
    from gateway.errors import InvalidInput
    with pytest.raises(InvalidInput) as caught:
        faults.parse("nope@1")
    assert caught.value.exit_code == 2


def test_unmatched_targets_are_reported():
    plan = faults.parse("power-cycle@5:node-9*,partition@1+1:node-00?,broker-outage@1+1")
    assert [str(f) for f in faults.unmatched(plan, ["node-000", "node-001"])] == ["power-cycle@5:node-9*"]


def test_one_sim_group_carries_every_sim_command():
    import importlib.util

    from gateway.cli.main import cli
    group = cli.commands["sim"]
    expected = {"board", "run"} | ({"load"} if importlib.util.find_spec("gateway.cli.sim_load_commands") else set())
    assert set(group.commands) >= expected


def test_cli_refuses_slow_motion_and_bad_plans():
    from click.testing import CliRunner

    from gateway.cli.main import cli
    runner = CliRunner()
    accel = runner.invoke(cli, ["sim", "run", "--accel", "0.5"], standalone_mode=False)
    assert isinstance(accel.exception, InvalidInputError) and "--accel" in str(accel.exception)
    plan = runner.invoke(cli, ["sim", "run", "--faults", "meteor@1"], standalone_mode=False)
    assert isinstance(plan.exception, FaultPlanError)
