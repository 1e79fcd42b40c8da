"""Forwarders carrying outbox items north: NGSI-LD platform, MQTT bridge, JSON-lines file."""
