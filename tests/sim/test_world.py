"""The world model: physically sensible, deterministic, and the same on CPython and MicroPython."""

import json
import subprocess
from pathlib import Path

import pytest

from sim import world
from sim.board_process import find_micropython
from sim.world import World, WorldEnvironment, solar_elevation

REPO = Path(__file__).resolve().parents[2]
# 2026-06-21 and 2026-12-21, 00:00 UTC
JUNE = 1782000000 - (1782000000 % 86400)
DEC = 1797811200


def test_calendar_helpers():
    assert world._civil_from_days(world._days_from_civil(2026, 3, 29)) == (2026, 3, 29)
    assert world._last_sunday(2026, 3) == world._days_from_civil(2026, 3, 29)
    assert world.utc_offset_s(JUNE) == 7200 and world.utc_offset_s(DEC) == 3600
    assert world.weekday(world._days_from_civil(2026, 11, 23) * 86400 + 43200) == 0  # a Monday


def test_sun_at_the_citys_latitude():
    noon = 12 * 3600 - 4 * 3.06 * 60  # solar noon in UTC at 3.06 E
    summer = solar_elevation(world._days_from_civil(2026, 6, 21) * 86400 + noon)
    winter = solar_elevation(world._days_from_civil(2026, 12, 21) * 86400 + noon)
    assert 62 < summer < 63.5 and 15 < winter < 16.5
    assert solar_elevation(world._days_from_civil(2026, 6, 21) * 86400) < -10  # midnight UTC


def test_daylight_illuminance_and_night():
    w = World(seed=3, site="rue-nationale")
    day = world._days_from_civil(2026, 6, 21) * 86400
    assert w.lux(day + 11 * 3600) > 20000 and w.daylight(day + 11 * 3600) > 0.9
    assert w.lux(day + 0 * 3600) < 10 and w.daylight(day) == 0.0
    evening = [w.lux(day + 19 * 3600 + m * 60) for m in range(0, 120, 10)]
    assert evening == sorted(evening, reverse=True)  # dusk darkens monotonically


def test_weather_and_traffic_are_plausible():
    w = World(seed=3, site="rue-nationale")
    july_afternoon = world._days_from_civil(2026, 7, 15) * 86400 + 14 * 3600
    january_night = world._days_from_civil(2026, 1, 15) * 86400 + 4 * 3600
    assert w.temperature(july_afternoon) > w.temperature(january_night) + 8
    assert 20 <= w.humidity(january_night) <= 100
    assert 98000 < w.pressure(july_afternoon) < 104000
    monday = world._days_from_civil(2026, 11, 23) * 86400
    rush, night = monday + 7.5 * 3600, monday + 2 * 3600   # 08:30 and 03:00 local
    assert w.traffic(rush) > 3 * w.traffic(night)
    assert w.noise_db(rush) > w.noise_db(night) + 8 and w.pm25(rush) > w.pm25(night)
    busy = sum(w.presence(rush + 5 * i) for i in range(400))
    quiet = sum(w.presence(night + 5 * i) for i in range(400))
    assert busy > 2 * quiet


def test_deterministic_per_seed_and_site_and_smooth():
    t = JUNE + 12345
    assert World(7, "a").sample(t) == World(7, "a").sample(t)
    assert World(7, "a").sample(t) != World(8, "a").sample(t)
    assert World(7, "a").traffic_scale != World(7, "b").traffic_scale
    w = World(7, "a")
    assert abs(w.temperature(t + 1) - w.temperature(t)) < 0.05


def test_environment_interface_of_the_device_models():
    env = WorldEnvironment(seed=2, site="s", world_time=JUNE + 12 * 3600)
    assert abs(env.now() - (JUNE + 12 * 3600)) < 5
    assert env.lamp_level(env.now()) == 0.0
    env.led_level = 0.4
    assert env.lamp_level(env.now()) == 0.4
    assert 3.7 < env.supply_v(env.now()) < 4.0


@pytest.mark.micropython
def test_micropython_computes_the_same_world(tmp_path):
    times = [JUNE + 3600 * h + 17 for h in range(0, 48, 5)] + [DEC + 40000]
    script = ("import json\nfrom sim.world import World\nw = World(5, 'place-du-general')\n"
              "print(json.dumps([w.sample(t) for t in %r]))\n" % times)
    out = subprocess.run([find_micropython(), "-c", script], capture_output=True, text=True,
                         env={"MICROPYPATH": ".frozen:%s" % REPO}, cwd=tmp_path, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    on_mpy = json.loads(out.stdout)
    on_cpython = [World(5, "place-du-general").sample(t) for t in times]
    for got, want in zip(on_mpy, on_cpython, strict=True):
        assert got["presence"] == want["presence"]
        for key in want:
            if key != "presence":
                assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-6), key
