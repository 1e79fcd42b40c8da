"""Boot counter and crash-boot counting, persisted on flash across resets and power cuts.

Every start increments ``boot``. A boot is *stable* once the runtime has run ``stable_after_s`` with its
tasks alive; a boot that ended before that by a crash-like reset (watchdog, panic, or the soft reset the
entry point does after an unhandled exception) counts as a crash boot. After ``safe_after`` consecutive
crash boots the node starts in safe mode (network and console only) and stays there until an operator
sends ``reboot``. A power cut is not a crash: street lighting circuits are switched every day.
"""

import json
import os

FILE = "boot.json"
CRASH_CAUSES = ("watchdog", "panic", "soft")


class BootState:
    def __init__(self, path=FILE):
        self.path = path
        self.boot = 0
        self.crashes = 0
        self.stable = True
        self.safe = False

    def _read(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            # Missing on a fresh board; unreadable only on damaged flash (writes are atomic
            # replaces). begin() then starts above the highest boot the ring holds.
            return None
        return data

    def _write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"boot": self.boot, "crashes": self.crashes, "stable": self.stable,
                       "safe": self.safe}, f)
            f.flush()
        os.rename(tmp, self.path)

    def begin(self, reset_cause, safe_after, boot_floor=0):
        """Count this boot; ``boot_floor`` is the highest boot seen elsewhere (the ring), so a lost
        state file never makes a boot number repeat. Returns self."""
        data = self._read() or {}
        previous = data.get("boot", 0)
        if previous < boot_floor:
            previous = boot_floor
        self.boot = previous + 1
        self.crashes = data.get("crashes", 0)
        self.safe = data.get("safe", False)
        if not data.get("stable", True) and reset_cause in CRASH_CAUSES:
            self.crashes += 1
        if self.crashes >= safe_after:
            self.safe = True
        self.stable = False
        self._write()
        return self

    def mark_stable(self):
        """The boot ran long enough: the crash streak ends (safe mode stays until an operator reboot)."""
        if not self.stable:
            self.stable = True
            if not self.safe:
                self.crashes = 0
            self._write()

    def note_crash(self):
        """An unhandled exception ends this boot: count it now, the reset cause may not say so."""
        self.crashes += 1
        self.stable = True   # counted here; the next begin() must not count it again
        self._write()

    def clear_for_operator_reboot(self):
        """An operator asked for the reboot: leave safe mode and start a fresh crash streak."""
        self.crashes = 0
        self.safe = False
        self.stable = True
        self._write()
