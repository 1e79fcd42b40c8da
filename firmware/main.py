"""Entry point on the chip (and in a simulated board): build the parts from the config and run.

The root ``main.py`` deployed to the board is ``from firmware.main import main; main()``; the simulator
runs ``micropython -m firmware.main`` in the board's flash directory.
"""

import asyncio
import json
import sys
import time

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


PROVISIONED_LINGER_MS = 3000


def _interrupt_char(char):
    try:
        import micropython
        micropython.kbd_intr(char)
    except (ImportError, AttributeError):
        pass


def needs_provisioning(path):
    """A deployed board (board and role sections written) still lacking its Wi-Fi or MQTT settings."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return False
    if not isinstance(cfg, dict) or "board" not in cfg or "role" not in cfg:
        return False
    return not (configuration.get(cfg, "wifi.ssid") and configuration.get(cfg, "mqtt.host"))


def provision_over_console(path):
    """Serve Improv Wi-Fi on the console until provisioned and saved, then reset into the firmware."""
    import machine
    import network

    from firmware import improv as responder_module
    from protocols import improv

    # Improv's RPC frame type is 0x03, the console's Ctrl-C: it must reach Improv, so the UART stops
    # turning it into KeyboardInterrupt before anyone is told to send.
    _interrupt_char(-1)
    print("reverbere: not provisioned, Improv serial on the console (Enter, Ctrl-C, Ctrl-C for the REPL)")
    r = responder_module.Responder(sys.stdout.buffer.write, network.WLAN(network.STA_IF), path)
    r.announce()  # a tool that opened the port during boot waits for this before it sends
    tail = bytearray(3)
    receive = r.receive

    def receive_or_break(chunk):
        # The tools' raw REPL entry (CR, Ctrl-C, Ctrl-C) still reaches the REPL, so a board waiting for
        # Improv can be deployed again; an Improv payload would need those three bytes in a row.
        for byte in chunk:
            tail[0], tail[1], tail[2] = tail[1], tail[2], byte
            if tail == b"\r\x03\x03":
                _interrupt_char(3)
                raise KeyboardInterrupt
        receive(chunk)

    r.receive = receive_or_break
    provisioned_at = []

    def finished():
        # Done once a tool has read the complete settings back (its last step); a tool that does not
        # read them back still gets a while to ask before the node resets into the firmware.
        if r.confirmed:
            return True
        if not (r.saved and r.state == improv.STATE_PROVISIONED):
            return False
        if not provisioned_at:
            provisioned_at.append(time.ticks_ms())
        return time.ticks_diff(time.ticks_ms(), provisioned_at[0]) >= PROVISIONED_LINGER_MS

    try:
        responder_module.serve(r, until=finished)
    finally:
        _interrupt_char(3)
    machine.reset()


def main(config_path=configuration.FILE):
    if needs_provisioning(config_path):
        provision_over_console(config_path)
        return
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
