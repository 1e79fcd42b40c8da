"""Config on flash, boot counter and crash-boot counting, backoff, and the clock (NTP and the unsynced
form). Common-subset modules: checked under CPython, and under MicroPython where the port differs."""

import json
import time

import pytest

from nodekit import NtpServer, run_micropython

from firmware import config
from firmware.backoff import Backoff, startup_delay_ms
from firmware.bootstate import BootState
from firmware.clock import SYNCED, UNSYNCED, Clock

BASE = {"node": {"site": "lille-fives"}, "mqtt": {"host": "broker.local"}, "board": {"name": "b"},
        "role": {"name": "sensor"}}


def test_config_defaults_and_validation(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(BASE))
    cfg = config.load(str(path))
    assert config.get(cfg, "mqtt.port") == 1883 and config.get(cfg, "period") == 60
    for bad, key in (({"node": {"site": "Lille"}}, "node.site"), ({"mqtt": {"host": "h", "port": 0}}, "mqtt.port"),
                     ({"period": "1m"}, "period")):
        broken = dict(BASE, **bad)
        path.write_text(json.dumps(broken))
        with pytest.raises(config.ConfigError, match=key):
            config.load(str(path))
    path.write_text("{not json")
    with pytest.raises(config.ConfigError, match="not valid JSON"):
        config.load(str(path))


def test_config_change_is_validated_and_atomic(tmp_path):
    path = tmp_path / "config.json"
    config.save(BASE, str(path))
    before = config.digest(str(path))
    new = config.changed(BASE, {"period": 30, "mqtt.keepalive": 90})
    assert BASE.get("period") is None and BASE["mqtt"] == {"host": "broker.local"}   # untouched
    config.save(new, str(path))
    assert json.loads(path.read_text())["mqtt"] == {"host": "broker.local", "keepalive": 90}
    assert config.digest(str(path)) != before and len(before) == 8
    assert not (tmp_path / "config.json.tmp").exists()
    for changes, text in (({"node.site": "x"}, "cannot be set"), ({"mqtt.port": 70000}, "mqtt.port"),
                          ({"nonsense": 1}, "cannot be set")):
        with pytest.raises(config.ConfigError, match=text):
            config.changed(BASE, changes)


def test_boot_counter_and_safe_mode_after_crash_boots(tmp_path):
    path = str(tmp_path / "boot.json")
    state = BootState(path).begin("power-on", safe_after=3)
    assert state.boot == 1 and not state.safe
    state.mark_stable()
    for expected_crashes in (1, 2):
        BootState(path).begin("power-on", 3)            # power flickers before stability: no crash
        state = BootState(path).begin("watchdog", 3)
        assert state.crashes == expected_crashes and not state.safe
    state.note_crash()                                  # unhandled exception: counted once
    state = BootState(path).begin("soft", 3)
    assert state.crashes == 3 and state.safe and state.boot == 6
    state.mark_stable()
    assert BootState(path).begin("power-on", 3).safe    # only an operator reboot leaves safe mode
    state = BootState(path)
    state.begin("power-on", 3)
    state.clear_for_operator_reboot()
    state = BootState(path).begin("soft", 3)
    assert not state.safe and state.crashes == 0 and state.boot == 9


def test_lost_boot_file_never_reuses_a_boot_number(tmp_path):
    state = BootState(str(tmp_path / "boot.json")).begin("power-on", 3, boot_floor=41)
    assert state.boot == 42


def test_backoff_full_jitter_bounds():
    draws = []
    backoff = Backoff(100, 1000, randint=lambda lo, hi: draws.append((lo, hi)) or hi)
    waits = [backoff.next_ms() for _ in range(6)]
    assert waits == [100, 200, 400, 800, 1000, 1000]
    assert all(lo == 0 for lo, _ in draws)
    backoff.reset()
    assert backoff.next_ms() == 100
    real = Backoff(100, 1000)
    assert all(0 <= real.next_ms() <= 1000 for _ in range(50))
    assert startup_delay_ms(0) == 0 and 0 <= startup_delay_ms(500) <= 500


def test_unsynced_times_of_this_boot_convert_once_synced():
    now = [5000]
    clock = Clock(ticks_ms=lambda: now[0], ticks_diff=lambda a, b: a - b)
    assert clock.stamp() == (UNSYNCED, 0)
    now[0] += 2500
    kind, value = clock.stamp()
    assert (kind, value) == (UNSYNCED, 2500) and clock.epoch() is None
    assert clock.wire(kind, value) == [2500]
    clock.set_epoch_ms(1767225600_000)           # synced when uptime was 2500 ms
    assert clock.wire(kind, value) == 1767225600
    assert clock.wire(UNSYNCED, 1000) == 1767225598
    assert clock.wire(UNSYNCED, 1000, same_boot=False) == [1000]   # another boot's uptime base
    now[0] += 1000
    assert clock.stamp() == (SYNCED, 1767225601) and clock.epoch() == 1767225601


@pytest.mark.micropython
def test_ntp_sync_under_micropython(tmp_path):
    server = NtpServer(1767225600)
    try:
        result = run_micropython(f"""
import asyncio, json
from firmware.clock import Clock, NtpError
async def main():
    clock = Clock()
    before = clock.now_wire()
    await clock.sync("127.0.0.1", {server.port})
    try:
        await Clock().sync("127.0.0.1", {server.port + 1 if server.port < 65535 else 1}, timeout_ms=300)
        failed = None
    except NtpError as exc:
        failed = str(exc)
    return {{"before": before, "after": clock.now_wire(), "synced": clock.synced(), "failed": failed}}
print(json.dumps(asyncio.run(main())))
""", tmp_path)
    finally:
        server.close()
    assert isinstance(result["before"], list)
    assert result["synced"] and 1767225600 <= result["after"] <= 1767225602
    assert "no answer" in result["failed"]


@pytest.mark.micropython
def test_config_and_boot_state_under_micropython(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(BASE))
    result = run_micropython("""
import json
from firmware import config
from firmware.bootstate import BootState
cfg = config.load()
new = config.changed(cfg, {"period": 0.5})
config.save(new)
try:
    config.changed(cfg, {"mqtt.port": "x"})
    err = None
except config.ConfigError as exc:
    err = str(exc)
boots = [BootState().begin("power-on", 3).boot for _ in range(3)]
print(json.dumps({"period": config.load()["period"], "err": err, "boots": boots,
                  "digest": len(config.digest())}))
""", tmp_path)
    assert result == {"period": 0.5, "err": "config: mqtt.port must be an int in [1, 65535], got 'x'",
                      "boots": [1, 2, 3], "digest": 8}
