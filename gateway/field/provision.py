"""Provisioning a node over Improv, then recording it in the inventory with its place and asset."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.broker_auth import new_password
from gateway.client import ApiClient
from gateway.errors import InvalidInput, NotFound, Timeout, VerificationFailed
from gateway.field.improv import ImprovClient
from gateway.inventory.store import Store, check_location, check_name


@dataclass(frozen=True)
class Plan:
    """Everything a node is given on site."""

    ssid: str
    password: str
    device_id: str
    site: str
    lat: float
    lon: float
    asset: str
    mqtt_url: str
    mqtt_user: str = ""
    mqtt_password: str = field(default_factory=new_password, repr=False)

    def __post_init__(self) -> None:
        check_name("device id", self.device_id)
        check_name("site", self.site)
        check_location([self.lon, self.lat])
        if not self.mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise InvalidInput("MQTT URL must start with mqtt:// or mqtts://, got %r" % self.mqtt_url)
        if not 1 <= len(self.ssid) <= 32:
            raise InvalidInput("an SSID holds 1 to 32 characters")


def provision(client: ImprovClient, plan: Plan, step: Callable[[str], None] = lambda _: None) -> dict:
    """Wi-Fi, identity and MQTT settings, then read them back; -> the settings the node holds.

    Raises VerificationFailed when what the node reports differs from the plan."""
    step("wifi")
    client.send_wifi(plan.ssid, plan.password)
    step("identity")
    client.set_identity(plan.device_id, plan.site, plan.asset, plan.lat, plan.lon)
    step("mqtt")
    client.set_mqtt(plan.mqtt_url, plan.mqtt_user or plan.device_id, plan.mqtt_password)
    step("verify")
    held = client.settings()
    expected = {"device_id": plan.device_id, "site": plan.site, "asset": plan.asset,
                "mqtt_user": plan.mqtt_user or plan.device_id}
    wrong = [key for key, value in expected.items() if held[key] != value]
    if not (_same_number(held["lat"], plan.lat) and _same_number(held["lon"], plan.lon)):
        wrong.append("position")
    if wrong:
        raise VerificationFailed("the node holds other values for %s" % ", ".join(wrong))
    return held


def _same_number(text: str, value: float) -> bool:
    try:
        return abs(float(text) - value) <= 1e-7
    except ValueError:
        return False


def inventory_row(plan: Plan) -> dict:
    """The provisioned node as the inventory records it: active, with its site, position and asset."""
    return {"id": plan.device_id, "site": plan.site, "lat": plan.lat, "lon": plan.lon, "asset": plan.asset,
            "state": "active"}


def register(store: Store, plan: Plan, now: float | None = None) -> dict:
    """Record the node in the inventory database directly (lifecycle event: import)."""
    store.import_rows([inventory_row(plan)], time.time() if now is None else now)
    return store.get_device(plan.device_id)


def register_via_api(api: ApiClient, plan: Plan) -> dict:
    """Record the node through the gateway's HTTP API (its CSV import, one line)."""
    row = inventory_row(plan)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(row))
    writer.writeheader()
    writer.writerow(row)
    api.import_csv(text.getvalue())
    return api.device(plan.device_id)


def wait_online(lookup: Callable[[], dict], timeout: float, poll_s: float = 0.25) -> dict:
    """Poll the inventory record (``lookup()``; NotFound while the gateway has not heard of the node)
    until its liveness is online; -> that record. Raises Timeout with the last liveness seen."""
    deadline = time.monotonic() + timeout
    seen = "not in the inventory"
    while True:
        try:
            row = lookup()
        except NotFound:
            row = None
        if row is not None:
            if row.get("liveness") == "online":
                return row
            seen = "liveness %s" % row.get("liveness")
        if time.monotonic() >= deadline:
            raise Timeout("the node was not online in the inventory within %.0f s (%s)" % (timeout, seen))
        time.sleep(poll_s)
