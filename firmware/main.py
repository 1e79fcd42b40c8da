"""Entry point on the chip (and in a simulated board): build the parts from the config and run.

The root ``main.py`` deployed to the board is ``from firmware.main import main; main()``; the simulator
runs ``micropython -m firmware.main`` in the board's flash directory.
"""

import asyncio
import sys

from firmware import config as configuration
from firmware.bootstate import BootState
from firmware.clock import Clock
from firmware.hal import Hal
from firmware.ring import Ring
from firmware.runtime import Runtime


def make_role(cfg, hal, clock):
    role_cfg = cfg["role"]
    name = role_cfg.get("name")
    # Imported here so a board loads only the role it plays.
    if name == "sensor":
        from firmware.roles.sensor import SensorNode as role_class
    elif name == "luminaire":
        from firmware.roles.luminaire import Luminaire as role_class
    elif name == "lifi-rx":
        from firmware.roles.lifi_rx import LiFiReceiver as role_class
    else:
        raise configuration.ConfigError("config: role.name must be sensor, luminaire or lifi-rx, got %r"
                                        % (name,))
    return role_class(hal, role_cfg, clock)


def main(config_path=configuration.FILE):
    try:
        cfg = configuration.load(config_path)
    except configuration.ConfigError as exc:
        # Nothing to connect to without a config: stay on the console for the technician, and never
        # invent one (no access point, no factory reset).
        print("reverbere: no usable config:", exc)
        return
    hal = Hal(cfg["board"])
    get = configuration.get
    ring = Ring("ring", get(cfg, "ring.segments"), get(cfg, "ring.segment_bytes"))
    cause = hal.reset_cause()
    boot = BootState().begin(cause, get(cfg, "safe_after"), ring.max_boot)
    clock = Clock()
    try:
        role = None if boot.safe else make_role(cfg, hal, clock)
        runtime = Runtime(hal, cfg, role, boot, ring, clock, config_path, cause)
        print("reverbere: boot %d, node %s, role %s%s" % (boot.boot, runtime.node_id, runtime.role_name(),
                                                      " (safe mode)" if boot.safe else ""))
        asyncio.run(runtime.run())
    except Exception as exc:  # the crash-boot counter decides about safe mode at the next start
        sys.print_exception(exc)
        boot.note_crash()
        hal.reset()


if __name__ == "__main__":
    main()
