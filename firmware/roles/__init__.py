"""Roles a node plays: SensorNode (sensor.py), Luminaire (luminaire.py), LiFiReceiver (lifi_rx.py).

Each role is a class built from injected parts (hal, config, clock) with no module-level state; the
runtime calls the interface documented in base.py. Import the one module a board needs, not this
package's siblings, to keep the heap small.
"""
