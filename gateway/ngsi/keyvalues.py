"""Normalized NGSI-LD entities reduced to their key-values form (NGSI-LD 4.5.4).

Each Property and GeoProperty becomes its `value`, each Relationship its `object`; sub-attributes
(observedAt, unitCode, nested properties) are dropped. Smart Data Models schemas describe this form.
"""

from __future__ import annotations

_KEPT = ("id", "type")


def attribute_value(attribute):
    if isinstance(attribute, list):
        return [attribute_value(item) for item in attribute]
    if not isinstance(attribute, dict):
        return attribute
    if attribute.get("type") == "Relationship" or "object" in attribute:
        return attribute.get("object")
    if "value" in attribute:
        return attribute["value"]
    return attribute


def key_values(entity: dict) -> dict:
    reduced = {}
    for name, attribute in entity.items():
        if name == "@context":
            continue
        reduced[name] = attribute if name in _KEPT else attribute_value(attribute)
    return reduced
