"""A fake NGSI-LD urban data platform over real HTTP, for tests, the simulator and benchmarks.

Implements what the gateway uses — batch upsert, retrieve one entity, query by type — validating every
request against the NGSI-LD OpenAPI file and every entity against its Smart Data Model, and answers faults
on demand. Control endpoints under /_platform/ (not NGSI-LD): GET stats, GET received, POST faults (a Fault
as JSON), DELETE faults, POST reset.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from gateway.errors import InvalidInput
from gateway.ngsi.context import JSON, LD_JSON
from gateway.ngsi.keyvalues import key_values
from sim.platform.faults import Fault, FaultPlan
from sim.platform.store import DEFAULT_TENANT, EntityStore
from sim.platform.validation import ApiValidator, EntitySchemas, HttpRequest, RequestInvalid

log = logging.getLogger(__name__)

API = "/ngsi-ld/v1"
UPSERT = API + "/entityOperations/upsert"
ENTITIES = API + "/entities"
CONTROL = "/_platform"
SUMMARY_IDS = 100  # entity ids kept per request summary; the observation counts hold every one
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
_TITLES = {400: ("BadRequestData", "Bad request data"), 401: ("Unauthorized", "Unauthorized"),
           403: ("Forbidden", "Forbidden"), 404: ("ResourceNotFound", "Resource not found"),
           415: ("UnsupportedMediaType", "Unsupported media type"),
           500: ("InternalError", "Internal error"), 501: ("OperationNotSupported", "Operation not supported"),
           503: ("InternalError", "Service unavailable"), 504: ("InternalError", "Gateway timeout")}


def problem(status: int, detail: str) -> dict:
    kind, title = _TITLES.get(status, ("InternalError" if status >= 500 else "BadRequestData", "Error"))
    return {"type": ERRORS + kind, "title": title, "status": status, "detail": detail}


class FakePlatform:
    """Python API of the fake platform; `start()` serves it on a real port in background threads."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, specs_dir: Path | None = None,
                 validate_every: int = 1, received_limit: int = 1000):
        """validate_every: 1 checks every request and entity; N only every Nth request (throughput runs);
        0 never, and the specification files are not even loaded."""
        self.host = host
        self.port = port
        if validate_every < 0:
            raise InvalidInput("validate_every must be 0 or more")
        self.validate_every = validate_every
        self._requests_seen = 0
        self._sampling_lock = threading.Lock()
        self.store = EntityStore(received_limit)
        self.faults = FaultPlan()
        self.api = ApiValidator(specs_dir) if validate_every else None
        self.schemas = EntitySchemas(specs_dir) if validate_every else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakePlatform:
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-platform", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections: clients see the platform go down."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def forward_url(self) -> str:
        return f"ngsi-ld+http://{self.host}:{self.port}"

    # -- faults
    def inject(self, fault: Fault) -> None:
        self.faults.add(fault)

    def fail_next(self, status: int, count: int | None = 1) -> None:
        self.inject(Fault(status=status, count=count))

    def fail_entities(self, errors: dict[str, int], count: int | None = 1) -> None:
        self.inject(Fault(entity_errors=dict(errors), count=count))

    def fail_some(self, every: int, status: int = 503, count: int | None = 1) -> None:
        """Answer 207 with every ``every``-th entity failing with ``status``, the others stored."""
        self.inject(Fault(fail_every=every, fail_status=status, count=count))

    def slow_next(self, delay_s: float, count: int | None = 1, commit: bool = True) -> None:
        self.inject(Fault(delay_s=delay_s, commit=commit, count=count))

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- what it received
    def stats(self) -> dict:
        return {**self.store.stats(), "faults_pending": self.faults.pending()}

    def entity(self, entity_id: str, tenant: str = DEFAULT_TENANT) -> dict | None:
        return self.store.get(tenant, entity_id)

    def entities(self, entity_type: str | None = None, tenant: str = DEFAULT_TENANT) -> list[dict]:
        return self.store.query(tenant, entity_type)

    def observation_counts(self, tenant: str = DEFAULT_TENANT) -> dict[tuple[str, str], int]:
        return self.store.observation_counts(tenant)

    def received(self) -> list[dict]:
        return self.store.received()

    def reset(self) -> None:
        self.store.clear()
        self.faults.clear()

    def sampled(self) -> bool:
        """Whether the request in hand is one to validate."""
        if not self.validate_every:
            return False
        with self._sampling_lock:
            self._requests_seen += 1
            chosen = (self._requests_seen - 1) % self.validate_every == 0
        if chosen:
            self.store.count("requests_validated")
        return chosen

    # -- the upsert operation, independent of HTTP
    def upsert(self, entities: list[dict], mode: str, tenant: str, validate: bool = True) -> tuple[int, object]:
        """Apply a batch upsert; the HTTP status and body to answer."""
        fault = self.faults.take()
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
            if not fault.commit:
                self.store.reject("fault-timeout", len(entities))
                return 504, problem(504, "injected: no answer in time, nothing stored")
        if fault is not None and fault.status is not None and (
                not fault.entity_errors or any(e.get("id") in fault.entity_errors for e in entities)):
            self.store.reject(f"fault-{fault.status}", len(entities))
            return fault.status, problem(fault.status, "injected failure")
        success, created, errors = [], [], []
        for entity in entities:
            failure = self._entity_failure(entity, fault, validate)
            if failure is not None:
                reason, error = failure
                errors.append({"entityId": entity.get("id"), "error": error})
                self.store.reject(reason)
                continue
            if self.store.upsert(tenant, entity, mode):
                created.append(entity["id"])
            success.append(entity["id"])
        if errors:
            return 207, {"success": success, "errors": errors}
        return (201, created) if created else (204, None)

    def _entity_failure(self, entity: dict, fault: Fault | None, validate: bool) -> tuple[str, dict] | None:
        """(rejection counter, problem details) when this entity of a batch fails, else None."""
        if fault is not None and fault.status is None and entity.get("id") in fault.entity_errors:
            status = fault.entity_errors[entity["id"]]
            return "fault-entity", problem(status, "injected failure for this entity")
        if fault is not None and fault.status is None and fault.fails_in_turn():
            return "fault-entity", problem(fault.fail_status, "injected failure: the platform is overloaded")
        if validate and self.schemas is not None:
            reasons = self.schemas.errors(entity)
            if reasons:
                return "sdm-schema", problem(400, "; ".join(reasons)[:1000])
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, platform: FakePlatform):
        self.platform = platform
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real platform offers
    # Headers and body go out in two writes: without this, Nagle holds the body until the client's delayed
    # ACK of the headers, 40 ms per request.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        platform = self.server.platform
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith(CONTROL):
            self._control(method, url.path[len(CONTROL):], body)
            return
        headers = {name: value for name, value in self.headers.items()}
        tenant = self.headers.get("NGSILD-Tenant") or DEFAULT_TENANT
        request = HttpRequest(f"http://{self.headers.get('Host') or platform.host}", method, url.path,
                              parse_qs(url.query), headers, body, self.headers.get("Content-Type") or "")
        platform.store.count("requests")
        summary = {"method": method, "path": url.path, "query": url.query, "tenant": tenant,
                   "content_type": request.content_type, "link": self.headers.get("Link"), "status": None}
        try:
            status, payload = self._ngsi(platform, request, tenant, summary)
        except RequestInvalid as exc:
            platform.store.reject("api-request")
            status, payload = 400, problem(400, str(exc)[:2000])
        except Exception as exc:  # the server boundary: answer 500 as a broker would, and keep serving
            log.exception("fake platform failed on %s %s", method, url.path)
            platform.store.reject("internal-error")
            status, payload = 500, problem(500, f"{type(exc).__name__}: {exc}"[:500])
        summary["status"] = status
        platform.store.record(summary)
        self._reply(status, payload, tenant)

    def _ngsi(self, platform: FakePlatform, request: HttpRequest, tenant: str, summary: dict):
        path = request.path
        if request.method == "POST" and path == UPSERT:
            media = request.content_type.split(";")[0].strip().lower()
            if media not in (JSON, LD_JSON):
                platform.store.reject("media-type")
                return 415, problem(415, f"unsupported media type {media!r}")
            if media == JSON and b'"@context"' in request.body:
                raise RequestInvalid("application/json body with @context: it belongs in the Link header")
            validate = platform.sampled()
            if validate:
                platform.api.validate(request)
            try:
                entities = orjson.loads(request.body)
            except ValueError as exc:
                raise RequestInvalid(f"body is not JSON: {exc}") from exc
            if not isinstance(entities, list) or not all(isinstance(e, dict) and "id" in e for e in entities):
                raise RequestInvalid("upsert body must be an array of entities with ids")
            summary["entities"] = len(entities)
            summary["entity_ids"] = [e["id"] for e in entities[:SUMMARY_IDS]]
            platform.store.count("upsert_requests")
            platform.store.count("entities_received", len(entities))
            mode = "update" if "update" in ",".join(request.query.get("options", [])) else "replace"
            return platform.upsert(entities, mode, tenant, validate)
        if request.method == "GET" and (path == ENTITIES or path.startswith(ENTITIES + "/")):
            if platform.sampled():
                platform.api.validate(request)
            as_key_values = "keyValues" in ",".join(request.query.get("options", []))
            if path == ENTITIES:
                found = platform.store.query(tenant, (request.query.get("type") or [None])[0])
                return 200, [_representation(e, as_key_values) for e in found]
            entity = platform.store.get(tenant, unquote(path[len(ENTITIES) + 1:]))
            if entity is None:
                return 404, problem(404, f"no entity {unquote(path[len(ENTITIES) + 1:])!r}")
            return 200, _representation(entity, as_key_values)
        if path.startswith(API):
            return 501, problem(501, f"{request.method} {path} is not offered by this platform")
        return 404, problem(404, f"no resource {path}")

    def _control(self, method: str, path: str, body: bytes) -> None:
        platform = self.server.platform
        try:
            if method == "GET" and path == "/stats":
                return self._reply(200, platform.stats())
            if method == "GET" and path == "/received":
                return self._reply(200, platform.received())
            if method == "POST" and path == "/faults":
                platform.inject(Fault.from_json(json.loads(body or b"{}")))
                return self._reply(204, None)
            if method == "DELETE" and path == "/faults":
                platform.clear_faults()
                return self._reply(204, None)
            if method == "POST" and path == "/reset":
                platform.reset()
                return self._reply(204, None)
        except (ValueError, InvalidInput) as exc:
            return self._reply(400, problem(400, str(exc)))
        self._reply(404, problem(404, f"no control resource {path}"))

    def _reply(self, status: int, payload, tenant: str = DEFAULT_TENANT) -> None:
        data = b"" if payload is None else orjson.dumps(payload)
        try:
            self.send_response(status)
            if data:
                content_type = "application/problem+json" if status >= 400 else JSON
                self.send_header("Content-Type", content_type)
            if tenant:
                self.send_header("NGSILD-Tenant", tenant)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            log.debug("client left before the answer")


def _representation(entity: dict, as_key_values: bool) -> dict:
    return key_values(entity) if as_key_values else entity
