"""NGSI-LD mapping: observations and inventory records as Smart Data Models entities (pure functions)."""
