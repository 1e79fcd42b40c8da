"""The wire contract shared by firmware and gateway (CPython and MicroPython common subset)."""
