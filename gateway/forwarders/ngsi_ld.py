"""Forwarder to an NGSI-LD context broker by batch upsert (POST /ngsi-ld/v1/entityOperations/upsert).

Status handling (NGSI-LD 1.6.1, 5.6.8 and 6.3):
- 201 / 204: every entity accepted;
- 207: the entities named in `errors` failed, the others were accepted; a 4xx problem for an entity is
  permanent (rejected with its reason), anything else is retried;
- 400 / 413 / 422 for the whole batch: the batch is split in halves until the bad entities are isolated,
  and only they are rejected;
- 401 / 403: retried (the token may be renewed) with a clear log line; 5xx, 408, 429, timeouts and
  connection errors: retried.
An outbox item that maps to several entities is done only when all of them are accepted. Once an entity
must be retried, later updates of the same entity in the batch are held back too, so the platform never
sees an entity's readings out of order; after a failure of the whole platform the rest of the batch is
not even tried.
"""

from __future__ import annotations

import logging
import ssl
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import orjson

from gateway.errors import InvalidInput
from gateway.forwarders.base import Envelope, SendResult
from gateway.ngsi.context import JSON, LD_JSON, SDM_CONTEXT, request_headers, with_context
from gateway.ngsi.entities import DEFAULT_NOISE_PERIOD_S, MappingError, entities_for

log = logging.getLogger(__name__)

UPSERT_PATH = "/ngsi-ld/v1/entityOperations/upsert"
SITE_PLACEHOLDER = "{site}"
_SPLIT_STATUSES = (400, 413, 422)
_RETRYABLE_CLIENT_STATUSES = (401, 403, 404, 408, 409, 429)
_URL_OPTIONS = {"tenant": str, "media_type": str, "context_url": str, "upsert_mode": str,
                "timeout_s": float, "max_entities": int}

ACCEPTED, RETRY, REJECTED = "accepted", "retry", "rejected"


@dataclass
class _Item:
    envelope_id: int
    tenant: str | None
    entity: dict


@dataclass(frozen=True)
class _Outcome:
    state: str
    reason: str = ""  # short and of few values: outbox counters are labelled with it
    detail: str = ""  # what the platform said, for the log


class NgsiLdForwarder:
    name = "ngsi-ld"

    def __init__(self, base_url: str, *, tenant: str | None = None, media_type: str = JSON,
                 context_url: str = SDM_CONTEXT, upsert_mode: str = "update", timeout_s: float = 10.0,
                 max_entities: int = 100, token: str | None = None, verify: bool | str = True,
                 noise_period_s: float = DEFAULT_NOISE_PERIOD_S):
        if media_type not in (JSON, LD_JSON):
            raise InvalidInput(f"media type must be {JSON} or {LD_JSON}, not {media_type!r}")
        if upsert_mode not in ("update", "replace"):
            raise InvalidInput(f"upsert mode must be update or replace, not {upsert_mode!r}")
        if max_entities < 1:
            raise InvalidInput("max_entities must be at least 1")
        self.upsert_url = base_url.rstrip("/").removesuffix("/ngsi-ld/v1") + UPSERT_PATH
        self.tenant = tenant
        self.media_type = media_type
        self.context_url = context_url
        self.upsert_mode = upsert_mode
        self.max_entities = max_entities
        self.noise_period_s = noise_period_s
        self.stats: Counter[str] = Counter()
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), verify=tls, headers=auth)
        self._last_problem: str | None = None

    @classmethod
    def from_url(cls, url: str, **options) -> NgsiLdForwarder:
        """ngsi-ld+http(s)://host:port[/path][?tenant=…&media_type=…&upsert_mode=…&timeout_s=…]"""
        parts = urlsplit(url)
        if not parts.hostname:
            raise InvalidInput(f"no host in {url!r}")
        from_query = {}
        for key, values in parse_qs(parts.query).items():
            if key not in _URL_OPTIONS:
                raise InvalidInput(f"unknown option {key!r} in {url!r}")
            try:
                from_query[key] = _URL_OPTIONS[key](values[-1])
            except ValueError as exc:
                raise InvalidInput(f"bad value for {key!r} in {url!r}") from exc
        scheme = parts.scheme.split("+", 1)[1]
        base = urlunsplit((scheme, parts.netloc, parts.path, "", ""))
        return cls(base, **{**from_query, **options})

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------------------------------------ send
    def send(self, batch: list[Envelope]) -> SendResult:
        result = SendResult()
        items: list[_Item] = []
        for envelope in batch:
            try:
                entities = entities_for(envelope.kind, envelope.payload, self.noise_period_s)
            except MappingError as exc:
                log.warning("ngsi-ld forwarder: outbox item %s cannot be mapped: %s", envelope.id, exc)
                result.rejected[envelope.id] = "mapping"
                continue
            tenant = self._tenant_of(envelope)
            items.extend(_Item(envelope.id, tenant, entity) for entity in entities)

        outcomes = self._deliver_in_order(items)

        by_envelope: dict[int, list[_Outcome]] = {}
        for item, outcome in zip(items, outcomes):
            by_envelope.setdefault(item.envelope_id, []).append(outcome)
        for envelope in batch:
            if envelope.id in result.rejected:
                continue
            states = by_envelope.get(envelope.id, [])
            rejected = next((o for o in states if o.state == REJECTED), None)
            if rejected is not None:
                log.warning("ngsi-ld forwarder: platform rejected outbox item %s: %s", envelope.id, rejected.detail)
                result.rejected[envelope.id] = rejected.reason
            elif any(o.state == RETRY for o in states):
                result.retry.append(envelope.id)
            else:
                result.done.append(envelope.id)
        return result

    def _tenant_of(self, envelope: Envelope) -> str | None:
        if self.tenant is None or SITE_PLACEHOLDER not in self.tenant:
            return self.tenant
        site = envelope.payload.get("site") or (envelope.payload.get("device") or {}).get("site")
        return self.tenant.replace(SITE_PLACEHOLDER, str(site or "default"))

    def _deliver_in_order(self, items: list[_Item]) -> list[_Outcome]:
        outcomes: list[_Outcome | None] = [None] * len(items)
        held_envelopes: set[int] = set()  # an envelope that will be retried: none of its entities goes now
        held_entities: set[tuple[str | None, str]] = set()  # an entity whose earlier update will be retried
        platform_down = False
        for chunk in self._chunks(items):
            sendable = []
            for index in chunk:
                item = items[index]
                if platform_down or item.envelope_id in held_envelopes \
                        or (item.tenant, item.entity["id"]) in held_entities:
                    outcomes[index] = _Outcome(RETRY, "held back")
                    held_envelopes.add(item.envelope_id)
                    held_entities.add((item.tenant, item.entity["id"]))
                else:
                    sendable.append(index)
            if not sendable:
                continue
            delivered = self._deliver(items[sendable[0]].tenant, [items[i].entity for i in sendable])
            for index, outcome in zip(sendable, delivered):
                outcomes[index] = outcome
                if outcome.state == RETRY:
                    held_envelopes.add(items[index].envelope_id)
                    held_entities.add((items[index].tenant, items[index].entity["id"]))
            platform_down = all(outcome.state == RETRY for outcome in delivered)
        return outcomes  # type: ignore[return-value]

    def _chunks(self, items: list[_Item]) -> list[list[int]]:
        """Consecutive runs with one tenant, at most max_entities long, each entity id at most once."""
        chunks: list[list[int]] = []
        ids: set[str] = set()
        for index, item in enumerate(items):
            current = chunks[-1] if chunks else None
            if current is None or len(current) >= self.max_entities or item.entity["id"] in ids \
                    or items[current[0]].tenant != item.tenant:
                chunks.append([index])
                ids = {item.entity["id"]}
            else:
                current.append(index)
                ids.add(item.entity["id"])
        return chunks

    # -------------------------------------------------------------------------------------------- one request
    def _deliver(self, tenant: str | None, entities: list[dict]) -> list[_Outcome]:
        try:
            response = self._post(tenant, entities)
        except httpx.TimeoutException:
            return self._all_retry(entities, "timeout", "platform did not answer in time")
        except httpx.TransportError as exc:
            return self._all_retry(entities, "connection", f"cannot reach the platform: {type(exc).__name__}")
        status = response.status_code
        self.stats[f"http_{status}"] += 1
        if status in (200, 201, 204):
            self.stats["entities_accepted"] += len(entities)
            self._recovered()
            return [_Outcome(ACCEPTED)] * len(entities)
        if status == 207:
            return self._multi_status(entities, response)
        if status in _SPLIT_STATUSES:
            if len(entities) == 1:
                self.stats["entities_rejected"] += 1
                return [_Outcome(REJECTED, f"http_{status}", _problem_text(response))]
            self.stats["batches_split"] += 1
            half = len(entities) // 2
            return self._deliver(tenant, entities[:half]) + self._deliver(tenant, entities[half:])
        if status in (401, 403):
            return self._all_retry(entities, f"http_{status}",
                                   f"platform refused the gateway's credentials ({status}); check the token")
        if status < 500 and status not in _RETRYABLE_CLIENT_STATUSES:
            log.warning("platform answered unexpected status %s; retrying later", status)
        return self._all_retry(entities, f"http_{status}", f"platform answered {status}: "
                               f"{_problem_text(response)}")

    def _post(self, tenant: str | None, entities: list[dict]) -> httpx.Response:
        body = with_context(entities) if self.media_type == LD_JSON else entities
        params = {"options": "update"} if self.upsert_mode == "update" else None
        self.stats["requests"] += 1
        self.stats["entities_sent"] += len(entities)
        return self._client.post(self.upsert_url, params=params,
                                 content=orjson.dumps(body),
                                 headers=request_headers(self.media_type, tenant, self.context_url))

    def _multi_status(self, entities: list[dict], response: httpx.Response) -> list[_Outcome]:
        try:
            report = response.json()
            failures = {error["entityId"]: error.get("error") or {} for error in report["errors"]}
        except (ValueError, KeyError, TypeError):
            return self._all_retry(entities, "bad_207", "platform answered 207 without a BatchOperationResult")
        outcomes = []
        for entity in entities:
            problem = failures.get(entity["id"])
            if problem is None:
                outcomes.append(_Outcome(ACCEPTED))
                self.stats["entities_accepted"] += 1
                continue
            status = problem.get("status") if isinstance(problem, dict) else None
            text = _problem_fields(problem)
            if isinstance(status, int) and 400 <= status < 500 and status not in _RETRYABLE_CLIENT_STATUSES:
                self.stats["entities_rejected"] += 1
                outcomes.append(_Outcome(REJECTED, f"entity_{status}", text))
            else:
                self.stats["entities_retried"] += 1
                outcomes.append(_Outcome(RETRY, f"entity_{status}", text))
        self._recovered()
        return outcomes

    def _all_retry(self, entities: list[dict], kind: str, message: str) -> list[_Outcome]:
        self.stats[f"failed_{kind}"] += 1
        self.stats["entities_retried"] += len(entities)
        if self._last_problem != kind:  # one line per change of trouble, not one per request
            log.warning("ngsi-ld forwarder: %s (%s); keeping %d entities for retry", message, self.upsert_url,
                        len(entities))
            self._last_problem = kind
        return [_Outcome(RETRY, kind)] * len(entities)

    def _recovered(self) -> None:
        if self._last_problem is not None:
            log.info("ngsi-ld forwarder: platform accepts entities again (%s)", self.upsert_url)
            self._last_problem = None


def _problem_text(response: httpx.Response) -> str:
    try:
        return _problem_fields(response.json())
    except ValueError:
        return response.text[:200]


def _problem_fields(problem) -> str:
    if not isinstance(problem, dict):
        return str(problem)[:200]
    title = problem.get("title") or problem.get("type") or "error"
    detail = problem.get("detail")
    return f"{title}: {detail}"[:300] if detail else str(title)[:300]
