"""Time acceleration and the clock-skew fault: the time/select shims under the real MicroPython unix
port, then a fleet of every role for two simulated hours at x600 with a board's clock a day ahead for
80 minutes; the reconciliation must come out exact and no board may run out of memory."""

import json
import os
import subprocess
import time

import pytest

from sim import faults
from sim.board_process import SHIMS, find_micropython
from sim.fleet import FleetSpec, check_plan, run_fleet
from sim.ntp import SimulatedClock

pytestmark = [pytest.mark.micropython]

_SLEEPER = """
import time, asyncio
async def main():
    t0 = time.ticks_ms()
    e0 = time.time()
    await asyncio.sleep(60)
    print(time.ticks_diff(time.ticks_ms(), t0), time.time() - e0, time.gmtime()[0])
asyncio.run(main())
"""


def _run_shimmed(code: str, env: dict) -> str:
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(SHIMS)]), **env)
    return subprocess.run([find_micropython(), "-c", code], env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_asyncio_sleep_of_a_minute_takes_a_second_at_x60():
    clock = SimulatedClock(60)
    started = time.monotonic()
    ticks_ms, epoch_s, year = _run_shimmed(_SLEEPER, clock.env()).split()
    real_s = time.monotonic() - started
    # Ticks and the epoch advanced a simulated minute; without acceleration this would take 60 s.
    assert 60000 <= int(ticks_ms) < 66000
    assert 59.9 <= float(epoch_s) < 66
    assert int(year) >= 2024
    assert real_s < 30


def test_without_acceleration_the_shims_are_the_built_in_modules():
    out = _run_shimmed("import time, select\nprint(time.ticks_ms is time.real_ticks_ms, select.poll)", {})
    assert out.split()[0] == "True" and "_Poll" not in out


def test_slow_motion_and_zero_skew_are_refused():
    with pytest.raises(ValueError, match="1 or more"):
        SimulatedClock(0.5)
    with pytest.raises(faults.FaultPlanError, match="no fault"):
        faults.parse("clock-skew@5+30~0:node-000")
    with pytest.raises(Exception, match="1 or more"):
        check_plan(FleetSpec(nodes=1, accel=0.5))
    plan = faults.parse("clock-skew@5+30:node-000,clock-skew@5+30~-2h:node-001")
    assert [f.skew_s for f in plan] == [86400.0, -7200.0]
    assert [str(f) for f in plan] == ["clock-skew@5+30:node-000", "clock-skew@5+30~-7200:node-001"]


def test_simulated_clock_runs_accel_times_faster_from_its_origin():
    clock = SimulatedClock(600, origin=time.time() - 10)
    assert 10 * 600 - 5 < clock.now() - clock.origin < 10 * 600 + 600
    assert clock.env() == {"RVB_TIME_ACCEL": "600.0", "RVB_TIME_ORIGIN": "%.6f" % clock.origin}
    assert SimulatedClock(1).env() == {}


@pytest.mark.broker
def test_every_role_two_simulated_hours_at_x600_with_clock_skew_reconciles_exactly(tmp_path):
    plan = faults.parse("clock-skew@1200+4800:node-000")
    spec = FleetSpec(nodes=1, luminaires=1, receivers=1, duration_s=7200, period_s=60, accel=600,
                     faults=plan, workdir=tmp_path)
    started = time.time()
    result = run_fleet(spec)
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["forwarded"] == result["produced"] == result["received"]
    # Three boards for two simulated hours at one reading a minute, less their start-up (a real second
    # of boot is ten simulated minutes at x600, more on a loaded host).
    assert result["produced"] >= 3 * 20
    assert result["accel"] == 600
    for board in result["boards"]:
        assert board["memory_errors"] == 0 and board["restarts"] == 0, board
        assert board["heap_peak_bytes"] > 0, board
    # The readings are stamped in simulated time, ahead of the host's clock; node-000's clock ran a day
    # ahead during the fault and came back.
    times: dict[str, list[int]] = {}
    for line in (tmp_path / "northbound.jsonl").read_text().splitlines():
        envelope = json.loads(line)
        if envelope["kind"] == "observation":
            payload = envelope["payload"]
            times.setdefault(payload["node_id"], []).append(payload["time"])
    ended = time.time()
    for node, stamps in times.items():
        # Synced stamps (an NTP answer slower than the 2 s the firmware waits, 3 real ms at x600, leaves a
        # reading in the unsynced [uptime_ms] form until the next sync) are in simulated time, ahead.
        synced = [t for t in stamps if isinstance(t, int)]
        assert len(stamps) >= 10 and synced and max(synced) > ended + 3600, node
    day_ahead = [t for t in times["node-000"] if isinstance(t, int) and t > started + 86400]
    assert day_ahead and len(day_ahead) < len(times["node-000"])
    assert not [t for node in ("lum-000", "rx-000") for t in times[node] if isinstance(t, int)
                and t > started + 86400]


def test_cli_refuses_a_period_too_short_for_the_acceleration():
    from click.testing import CliRunner

    from gateway.cli.main import cli
    from gateway.errors import InvalidInput
    result = CliRunner().invoke(cli, ["sim", "run", "--accel", "600", "--period", "2"], standalone_mode=False)
    assert isinstance(result.exception, InvalidInput) and "real ms between readings" in str(result.exception)
