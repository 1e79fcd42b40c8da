"""A whole simulated luminaire node (firmware runtime, MQTT to the local broker) with beacons on, in the
simulator's 64 KB data heap: it keeps running, reporting and beaconing."""

from protocols.lifi import beacon
from tests.firmware.nodekit import BoardProcess, Collector, node_config, prepare, unique_site, wait_until

UNIQUE_ID = "a4cf12fe0042"
MASTER = b"site master key of the test city"


def test_beaconing_luminaire_node_runs_in_the_64k_budget(tmp_path):
    site = unique_site("lifibeacon")
    cfg = node_config("luminaire-controller", site, "127.0.0.1", 1883, node_id=site, period=1,
                      status_period=1, replay_per_s=200, backoff={"base_ms": 100, "cap_ms": 400})
    key = beacon.derive_lamp_key(MASTER, UNIQUE_ID).hex()
    cfg["role"]["lifi_beacon"] = {"key": key, "period_ms": 100}
    board_dir = prepare(tmp_path / "board", cfg, seed=7)
    collector = Collector(site)
    board = BoardProcess(board_dir, heap="64K", unique_id=UNIQUE_ID).start()
    try:
        def beaconing(least):
            return any(s.get(28, {}).get("lifi_beacons", 0) >= least for s in collector.of("status"))

        assert wait_until(lambda: beaconing(10), timeout=30), board.console_text()[-2000:]
        collector.publish_cmd(site, 7, "dim", {"level": 40})  # commands still answered
        assert wait_until(lambda: collector.ack_for(7) is not None, timeout=15), board.console_text()[-2000:]
        assert collector.ack_for(7)[43] == "ok", collector.ack_for(7)
        assert wait_until(lambda: beaconing(30), timeout=30), board.console_text()[-2000:]
        assert "Traceback" not in board.console_text(), board.console_text()[-2000:]
        assert board.alive() and board.starts == 1  # no crash, no reset along the way
        last = collector.of("status")[-1]
        assert "lifi_beacon_error" not in last[28]
        assert key not in board.console_text()
        print("luminaire node heap_free with beacons:", [s.get(21) for s in collector.of("status")][-3:])
    finally:
        board.kill()
        collector.close()
