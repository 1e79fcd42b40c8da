"""The HTTP API's routes over the inventory store, the counters and the traffic tap; no socket code here.

Reads are open (the API listens on localhost unless configured otherwise); admin actions need
`Authorization: Bearer <token>`. Errors are JSON `{"error": <type>, "message": ...}` with a status derived
from the library's typed errors.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from gateway import report
from gateway.api.errors import Unauthorized
from gateway.counters import Counters
from gateway.errors import InvalidInput, NotFound, ReverbereError, Timeout, Unavailable
from gateway.inventory import Store, csv_io, geojson, records
from gateway.ngsi.entities import device_entities
from gateway.outbox import update_gauges
from gateway.report.history import state_events

JSON = "application/json"
ADMIN, OPEN = True, False  # whether a route needs the bearer token
STATUS_OF = ((NotFound, 404), (InvalidInput, 400), (Timeout, 504), (Unavailable, 503))


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise InvalidInput("request body is not JSON: %s" % exc) from exc


def as_json(value: Any, status: int = 200) -> Response:
    # orjson: a list of 10,000 device records serialises several times faster than with json.
    return Response(status, orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


def error_response(exc: Exception) -> Response:
    status = (
        401
        if isinstance(exc, Unauthorized)
        else next((code for kind, code in STATUS_OF if isinstance(exc, kind)), 500)
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    response = as_json({"error": type(exc).__name__, "message": str(exc)}, status)
    response.headers.update(headers)
    return response


Handler = Callable[[Request, re.Match], Response]


class Api:
    def __init__(
        self, store: Store, counters: Counters, forwarder_keys: list[str], token: str | None, tap: Any = None
    ) -> None:
        self.store = store
        self.counters = counters
        self.forwarder_keys = forwarder_keys
        self.token = token
        self.tap = tap
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(counters.collector())
        device = r"(?P<id>[a-z0-9][a-z0-9-]{0,31})"
        self.routes: list[tuple[str, re.Pattern, Handler, bool]] = [
            ("GET", re.compile(r"/healthz"), self.healthz, OPEN),
            ("GET", re.compile(r"/metrics"), self.metrics, OPEN),
            ("GET", re.compile(r"/api/v1/devices"), self.devices, OPEN),
            ("POST", re.compile(r"/api/v1/devices/import"), self.import_csv, ADMIN),
            ("GET", re.compile(r"/api/v1/devices/%s" % device), self.device, OPEN),
            ("GET", re.compile(r"/api/v1/devices/%s/history" % device), self.history, OPEN),
            ("POST", re.compile(r"/api/v1/devices/%s/approve" % device), self.approve, ADMIN),
            ("POST", re.compile(r"/api/v1/devices/%s/retire" % device), self.retire, ADMIN),
            ("PATCH", re.compile(r"/api/v1/devices/%s" % device), self.edit, ADMIN),
            ("POST", re.compile(r"/api/v1/devices/%s/command" % device), self.command, ADMIN),
            ("GET", re.compile(r"/api/v1/inventory/report"), self.report_json, OPEN),
            ("GET", re.compile(r"/api/v1/inventory/report\.html"), self.report_html, OPEN),
            ("GET", re.compile(r"/api/v1/export/(?P<format>csv|geojson|ngsi-ld)"), self.export, OPEN),
        ]

    def route(self, path: str, method: str) -> tuple[Handler, re.Match, bool]:
        allowed = False
        for route_method, pattern, handler, needs_token in self.routes:
            found = pattern.fullmatch(path)
            if found:
                allowed = True
                if route_method == method:
                    return handler, found, needs_token
        raise NotFound(("method %s not allowed on %s" if allowed else "no route %s %s") % (method, path))

    def handle(self, request: Request) -> Response:
        try:
            handler, found, needs_token = self.route(request.path, request.method)
            if needs_token:
                self.authorize(request)
            return handler(request, found)
        except ReverbereError as exc:
            return error_response(exc)

    def authorize(self, request: Request) -> None:
        if not self.token:
            raise Unauthorized("admin actions are disabled: start the gateway with REVERBERE_API_TOKEN set")
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            raise Unauthorized("missing or wrong bearer token")

    # -- reads
    def healthz(self, request: Request, found: re.Match) -> Response:
        try:
            version = self.store.schema_version()
        except ReverbereError as exc:
            return as_json({"status": "down", "database": str(exc)}, 503)
        connected = self.tap.connected if self.tap is not None else None
        return as_json({"status": "ok", "schema_version": version, "broker_connected": connected})

    def metrics(self, request: Request, found: re.Match) -> Response:
        update_gauges(self.store, self.counters, self.forwarder_keys)
        return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)

    def devices(self, request: Request, found: re.Match) -> Response:
        state = request.query.get("state")
        if state and state not in records.STATES:
            raise InvalidInput("state must be one of %s" % ", ".join(records.STATES))
        rows = self.store.list_devices(state=state, site=request.query.get("site"))
        return as_json([records.to_json(row) for row in rows])

    def device(self, request: Request, found: re.Match) -> Response:
        return as_json(records.to_json(self.store.get_device(found["id"])))

    def history(self, request: Request, found: re.Match) -> Response:
        self.store.get_device(found["id"])
        limit = _int(request.query.get("limit", "100"), "limit")
        return as_json(self.store.history(found["id"], limit))

    def _figures(self) -> dict:
        return report.compute(self.store.list_devices(), state_events(self.store), time.time())

    def report_json(self, request: Request, found: re.Match) -> Response:
        return as_json(self._figures())

    def report_html(self, request: Request, found: re.Match) -> Response:
        page = report.render(self._figures())
        return Response(200, page.encode(), "text/html; charset=utf-8")

    def export(self, request: Request, found: re.Match) -> Response:
        rows = self.store.list_devices(state=request.query.get("state"), site=request.query.get("site"))
        if found["format"] == "csv":
            return Response(200, csv_io.export_csv(rows).encode(), "text/csv; charset=utf-8")
        if found["format"] == "geojson":
            response = as_json(geojson.feature_collection(rows))
            response.content_type = "application/geo+json"
            return response
        entities = [entity for row in rows for entity in device_entities(records.to_json(row))]
        return as_json(entities)

    # -- admin actions
    def approve(self, request: Request, found: re.Match) -> Response:
        return as_json(records.to_json(self.store.approve(found["id"])))

    def retire(self, request: Request, found: re.Match) -> Response:
        row, discarded = self.store.retire(found["id"])
        return as_json({"device": records.to_json(row), "discarded": discarded})

    def edit(self, request: Request, found: re.Match) -> Response:
        changes = request.json()
        if not isinstance(changes, dict):
            raise InvalidInput("edit body must be a JSON object of fields")
        return as_json(records.to_json(self.store.edit(found["id"], **changes)))

    def import_csv(self, request: Request, found: re.Match) -> Response:
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("CSV must be UTF-8") from exc
        valid_only = request.query.get("valid_only", "") in ("1", "true", "yes")
        return as_json(csv_io.import_csv(self.store, text, valid_only=valid_only))

    def command(self, request: Request, found: re.Match) -> Response:
        if self.tap is None:
            raise Unavailable("this gateway API has no broker connection for commands")
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("op"), str):
            raise InvalidInput('command body must be {"op": ..., "args": {...}, "timeout": seconds}')
        args = body.get("args")
        if args is not None and not isinstance(args, dict):
            raise InvalidInput("args must be a JSON object")
        timeout = body.get("timeout", 10)
        if not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
            raise InvalidInput("timeout must be a number of seconds in (0, 600]")
        row = self.store.get_device(found["id"])
        return as_json(
            self.tap.command(row["topic_site"], row["id"], body["op"], args or None, float(timeout))
        )


def _int(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput("%s must be an integer" % name) from None
    if value < 1:
        raise InvalidInput("%s must be at least 1" % name)
    return value


def parse_query(text: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(text).items()}
