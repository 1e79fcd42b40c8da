"""Where the simulated board lives: its flash directory (the process's working directory) and the
device models wired to it (sim/devices, optional: a board without them has nothing on its buses)."""

import os

DIR = os.getenv("RVB_BOARD_DIR") or os.getcwd()
RESET_FILE = DIR + "/.reset"   # cause of a reset the board asked for; read and removed at start

try:
    import sim.devices as devices
except ImportError:
    devices = None


def write_reset(cause):
    with open(RESET_FILE, "w") as f:
        f.write(cause)


def take_reset():
    try:
        with open(RESET_FILE) as f:
            cause = f.read().strip()
    except OSError:
        return None
    os.remove(RESET_FILE)
    return cause


def die():
    """End this process at once, as a reset or power loss would: no cleanup, no atexit."""
    os.system("kill -9 $PPID")
