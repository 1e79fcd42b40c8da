"""What the fake platform checks: each request against the NGSI-LD OpenAPI file (openapi-core), each entity
against its Smart Data Models JSON Schema in key-values form (jsonschema + referencing).

The published spec copy has defects (see ../shared/specs/README.md); they are repaired here, in memory,
and only these:
- the JSON-LD media type is spelled `application/json+ld` and its upsert body schema is malformed, so an
  `application/ld+json` request is validated as the `application/json` request it is equivalent to: each
  entity's `@context` is checked, then removed, and the Link header stands in for it;
- `Relationship` lacks `type: object`, so any array-valued attribute (a multi-valued Relationship such as
  Streetlight.refDevice) matches both `Relationship` and "array of Relationship" and fails every `oneOf`;
- the `Link` header is declared `format: uri`, but its value is `<url>; rel="…"; type="…"` (RFC 8288),
  which fails as soon as a URI format checker (rfc3986-validator) is installed.
Left as published: `DateTimeValue` sits in a `oneOf` with `AnyValue`, which matches everything, so an
`{"@type": "DateTime", "@value": …}` value can never validate; the gateway sends dates as plain ISO strings.

Speed: openapi-core checks a body with the Python `jsonschema` package, about 2 ms per entity for the
`oneOf`-heavy NGSI-LD attribute schemas, more CPU than a platform at 1,000 messages/s has. So the body of
an upsert (the gateway's one hot request) is checked against the very same schema of the same (repaired)
spec document, compiled once with `jsonschema-rs` (OpenAPI 3.0 schema objects are JSON Schema draft 4 with
extra keywords; the spec uses none that changes validation: no `nullable`), while openapi-core still checks
its path, method, parameters and headers, each distinct set of them once (a forwarder sends the same
headers and query every time: only Content-Length changes, which no parameter declares). The Smart Data
Models schemas are compiled the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import jsonschema_rs
import orjson
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.validation.request.validators import (
    V30RequestParametersValidator,
    V30RequestSecurityValidator,
)
from werkzeug.datastructures import Headers, ImmutableMultiDict

from gateway.ngsi.context import CORE_CONTEXT, JSON, LD_JSON, link_header
from gateway.ngsi.keyvalues import key_values

SPECS_ENV = "REVERBERE_SPECS"
OPENAPI_FILE = Path("ngsi-ld") / "ngsi-ld-api-1.6.1.yaml"
SERVER_PATH = "/ngsi-ld/v1"  # the spec's server URL path, before each of its paths
COMPILED_BODIES = (("/entityOperations/upsert", "post"),)  # operations whose JSON body jsonschema-rs checks
ENVELOPES_KEPT = 256  # distinct valid (method, path, query, headers) remembered; beyond, the memory restarts
ENVIRONMENT_ALIAS = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/Environment-schema.json",
    "https://smart-data-models.github.io/dataModel.Environment/Environment-schema.json",
)
SCHEMA_OF_TYPE = {
    "Device": "dataModel.Device/Device/schema.json",
    "DeviceMeasurement": "dataModel.Device/DeviceMeasurement/schema.json",
    "Streetlight": "dataModel.Streetlighting/Streetlight/schema.json",
    "StreetlightGroup": "dataModel.Streetlighting/StreetlightGroup/schema.json",
    "AirQualityObserved": "dataModel.Environment/AirQualityObserved/schema.json",
    "NoiseLevelObserved": "dataModel.Environment/NoiseLevelObserved/schema.json",
    "WeatherObserved": "dataModel.Weather/WeatherObserved/schema.json",
}


class RequestInvalid(Exception):
    """The request does not conform to the NGSI-LD API; the message is the validator's reason."""


def default_specs_dir() -> Path:
    if os.environ.get(SPECS_ENV):
        return Path(os.environ[SPECS_ENV])
    return Path(__file__).resolve().parents[3] / "shared" / "specs"


@dataclass
class HttpRequest:
    """The parts of an HTTP request openapi-core reads (its `Request` protocol)."""

    host_url: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    content_type: str

    @property
    def parameters(self) -> RequestParameters:
        return RequestParameters(query=ImmutableMultiDict([(k, v) for k, vs in self.query.items() for v in vs]),
                                 header=Headers(self.headers), cookie=ImmutableMultiDict())


class ApiValidator:
    """Validates requests against the NGSI-LD OpenAPI description."""

    def __init__(self, specs_dir: Path | None = None, repair: bool = True):
        path = (specs_dir or default_specs_dir()) / OPENAPI_FILE
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if repair:
            spec["components"]["schemas"]["Relationship"]["type"] = "object"
            spec["components"]["parameters"]["Headers.Link"]["schema"].pop("format", None)
        self._openapi = OpenAPI.from_dict(spec, base_uri=path.as_uri())
        parsed = self._openapi.spec
        # Everything of a request but its body, for the operations whose body is checked below.
        self._around_body = (V30RequestParametersValidator(parsed), V30RequestSecurityValidator(parsed))
        self._bodies = {}
        self._valid_envelopes: set[tuple] = set()
        for api_path, method in COMPILED_BODIES:
            schema = spec["paths"][api_path][method]["requestBody"]["content"][JSON]["schema"]
            # `#/components/...` references resolve against the document root: give it the components.
            self._bodies[(SERVER_PATH + api_path, method.upper())] = jsonschema_rs.Draft4Validator(
                {**schema, "components": spec["components"]}, validate_formats=True
            )

    def validate(self, request: HttpRequest) -> None:
        """Raise RequestInvalid when the request breaks the API (ld+json mapped to json first)."""
        media = request.content_type.split(";")[0].strip().lower()
        if media == LD_JSON and request.body:
            request = _as_json_request(request)
            media = JSON
        body_validator = self._bodies.get((request.path, request.method.upper())) if media == JSON else None
        try:
            if body_validator is None:
                self._openapi.validate_request(_OpenApiRequest(request))
                return
            envelope = _envelope(request)
            if envelope not in self._valid_envelopes:
                for validator in self._around_body:
                    validator.validate(_OpenApiRequest(request))
                if len(self._valid_envelopes) >= ENVELOPES_KEPT:
                    self._valid_envelopes.clear()
                self._valid_envelopes.add(envelope)
        except OpenAPIError as exc:
            raise RequestInvalid(_reason(exc)) from exc
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise RequestInvalid(f"body is not JSON: {exc}") from exc
        errors = [_where(error) for _, error in zip(range(20), body_validator.iter_errors(body))]
        if errors:
            raise RequestInvalid("request body does not match the operation's schema: " + "; ".join(errors))


def _as_json_request(request: HttpRequest) -> HttpRequest:
    if "link" in {name.lower() for name in request.headers}:
        raise RequestInvalid("application/ld+json with a Link header: @context must be in the body only")
    try:
        entities = json.loads(request.body)
    except ValueError as exc:
        raise RequestInvalid(f"body is not JSON: {exc}") from exc
    items = entities if isinstance(entities, list) else [entities]
    contexts = []
    for item in items:
        if not isinstance(item, dict) or "@context" not in item:
            raise RequestInvalid("application/ld+json entity without @context")
        contexts.append(item["@context"])
    stripped = [{k: v for k, v in item.items() if k != "@context"} for item in items]
    first = contexts[0]
    context_url = first if isinstance(first, str) else next(
        (c for c in first if isinstance(c, str) and c != CORE_CONTEXT), CORE_CONTEXT)
    headers = {**request.headers, "Link": link_header(context_url)}
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    body = json.dumps(stripped if isinstance(entities, list) else stripped[0]).encode()
    return HttpRequest(request.host_url, request.method, request.path, request.query, headers, body, JSON)


def _envelope(request: HttpRequest) -> tuple:
    """Everything of a request but its body that openapi-core could look at."""
    query = tuple(sorted((name, tuple(values)) for name, values in request.query.items()))
    headers = tuple(sorted((k.lower(), v) for k, v in request.headers.items() if k.lower() != "content-length"))
    return request.method.upper(), request.path, query, headers, request.host_url


def _where(error: jsonschema_rs.ValidationError) -> str:
    path = "/".join(map(str, error.instance_path)) or "(body)"
    return f"{path}: {error.message}"[:300]


def _reason(error: Exception) -> str:
    causes = getattr(error, "schema_errors", None) or getattr(error.__cause__, "schema_errors", None)
    if causes:
        return f"{error}: " + "; ".join(str(getattr(c, "message", c))[:300] for c in causes)
    return str(error)[:600]


class _OpenApiRequest:
    def __init__(self, request: HttpRequest):
        self.host_url = request.host_url
        self.path = request.path
        self.method = request.method.lower()
        self.body = request.body or None
        self.content_type = request.content_type.lower() if request.content_type else ""
        self.parameters = request.parameters


class EntitySchemas:
    """Smart Data Models JSON Schemas, one per entity type, validating the key-values form."""

    def __init__(self, specs_dir: Path | None = None):
        sdm = (specs_dir or default_specs_dir()) / "sdm"
        resources = []
        by_path = {}
        for path in sorted(sdm.rglob("*.json")):
            contents = json.loads(path.read_text(encoding="utf-8"))
            resources.append((contents["$id"], contents))
            by_path[path.relative_to(sdm).as_posix()] = contents
        by_id = dict(resources)
        alias, target = ENVIRONMENT_ALIAS
        resources.append((alias, by_id[target]))
        # offline: a reference outside the spec copy is an error, never a download.
        registry = jsonschema_rs.Registry(resources)
        self._validators = {
            entity_type: jsonschema_rs.validator_for(
                by_path[relative], registry=registry, validate_formats=True, offline=True
            )
            for entity_type, relative in SCHEMA_OF_TYPE.items()
        }

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self._validators)

    def errors(self, entity: dict) -> list[str]:
        """Why a normalized entity breaks its model (empty when it conforms)."""
        entity_type = entity.get("type")
        validator = self._validators.get(entity_type) if isinstance(entity_type, str) else None
        if validator is None:
            return [f"no Smart Data Model for entity type {entity_type!r}"]
        reduced = key_values(entity)
        return [f"{'/'.join(map(str, e.instance_path)) or '(entity)'}: {e.message}"[:300]
                for e in validator.iter_errors(reduced)]
