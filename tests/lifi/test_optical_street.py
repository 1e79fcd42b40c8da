"""Beacons end to end through the optical medium: a simulated luminaire (real firmware, real MicroPython)
sends its authenticated beacons on the RMT, the medium turns them into light at two simulated receivers
(one under the lamp, one out of its light cone), the receivers decode what their ADC sees and report it
over the real broker, and the gateway verifies the beacons and records the coverage in the inventory."""

import threading
import time

from gateway.config import GatewayConfig
from gateway.daemon import Daemon
from sim.board_process import BoardProcess, node_config, prepare
from sim.lifi.medium import LampSpec, ReceiverSpec
from sim.lifi.street import OpticalStreet, board_mac, master_key
from tests.firmware.nodekit import unique_site, wait_until

BOARDS = (("lum-0", "luminaire-controller"), ("rx-in", "lifi-receiver"), ("rx-out", "lifi-receiver"))
NIGHT = 1767236400 - 3 * 3600  # 21:00 UTC: the lamp is lit (dark outside)


def test_receiver_under_the_lamp_decodes_verified_beacons_and_one_outside_its_cone_none(tmp_path):
    site = unique_site("optical")
    key = master_key(7)
    street = OpticalStreet(tmp_path / "street", key, seed=7)
    street.lamps = [LampSpec("lum-0", x_m=0.0)]
    street.receivers = [ReceiverSpec("rx-in", x_m=1.0), ReceiverSpec("rx-out", x_m=40.0)]
    assert street.covered_by("rx-in") == ["lum-0"] and street.covered_by("rx-out") == []
    daemon = Daemon(GatewayConfig(broker="mqtt://127.0.0.1:1883", client_id="rvb-optical-%s" % site, sites=(site,),
                                  db="sqlite:///%s" % (tmp_path / "inventory.db"),
                                  forward=("file://%s" % (tmp_path / "north.jsonl"),), auto_approve=True,
                                  default_period_s=1.0, http=None, session_expiry_s=0, lifi_master_key=key.hex()))
    gateway = threading.Thread(target=daemon.run, daemon=True)
    gateway.start()
    boards = {}
    try:
        assert wait_until(lambda: daemon.ingest is not None and daemon.ingest.wait_subscribed(0.1), timeout=20)
        street.start()
        for index, (board_id, board) in enumerate(BOARDS):
            cfg = node_config(board, site, "127.0.0.1", 1883, node_id=board_id, period=1, status_period=1)
            board_dir = prepare(tmp_path / board_id, cfg, seed=index + 1)
            _pin_world_time(board_dir, NIGHT)
            assert street.wire(board_dir, board_id)
            boards[board_id] = BoardProcess(board_dir, heap="64K").start()
        lamp_mac = board_mac(tmp_path / "lum-0").hex()

        def covered():
            lamp = next((d for d in daemon.store.list_devices() if d["id"] == "lum-0"), None)
            return lamp and [item for item in lamp["lifi"] if item["receiver"] == "rx-in" and item["count"] >= 3]

        assert wait_until(covered, timeout=25, step=0.5), _diagnose(street, boards)
        time.sleep(2.0)  # the receiver out of the cone keeps listening meanwhile
        rx_in = daemon.store.get_device("rx-in")
        rx_out = daemon.store.get_device("rx-out")
        assert [item["lamp"] for item in rx_in["lifi"]] == [lamp_mac]
        assert covered()[0]["lamp"] == lamp_mac
        assert rx_out["lifi"] == []
        assert daemon.ingest.core.coverage.counts["accepted"] >= 3
        assert daemon.ingest.core.coverage.counts["forged"] == 0
        stats = street.stats()["receivers"]
        # both receivers were streamed light; only the one under the lamp saw it modulated
        assert stats["rx-out"]["samples"] > 16000 and stats["rx-in"]["samples"] > 16000
        assert stats["rx-in"]["gains"] and not stats["rx-out"]["gains"]
        for board in boards.values():
            assert "Traceback" not in board.console_text(), board.console_text()[-2000:]
    finally:
        for board in boards.values():
            board.kill()
        street.close()
        daemon.stop()
        gateway.join(timeout=10)


def _pin_world_time(board_dir, epoch):
    import json
    path = board_dir / "sim.json"
    wiring = json.loads(path.read_text())
    wiring["world_time"] = epoch
    path.write_text(json.dumps(wiring))


def _diagnose(street, boards):
    return "medium: %s\n%s" % (street.stats(), "\n".join(
        "%s: %s" % (name, board.console_text()[-800:]) for name, board in boards.items()))
