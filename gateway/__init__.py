"""Reverbère gateway: ingest, inventory, outbox and forwarders, HTTP API, and the `reverbere` CLI."""
