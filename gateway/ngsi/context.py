"""JSON-LD @context and tenant headers for NGSI-LD requests.

With `application/json` bodies the @context travels in one Link header (NGSI-LD 6.3.5: no mixing); with
`application/ld+json` it is the `@context` member of every entity. One Link header holds one URL, so the
default is the Smart Data Models aggregated context, which itself pulls in the NGSI-LD core context.
"""

from __future__ import annotations

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
SDM_CONTEXT = "https://smartdatamodels.org/context.jsonld"
# Per-domain contexts, listed ahead of the core context in ld+json bodies.
DOMAIN_CONTEXTS = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Device/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Weather/master/context.jsonld",
)
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"

JSON = "application/json"
LD_JSON = "application/ld+json"


def link_header(context_url: str = SDM_CONTEXT) -> str:
    return f'<{context_url}>; rel="{JSONLD_CONTEXT_REL}"; type="{LD_JSON}"'


def body_context() -> list[str]:
    return [*DOMAIN_CONTEXTS, CORE_CONTEXT]


def request_headers(media_type: str, tenant: str | None, context_url: str = SDM_CONTEXT) -> dict[str, str]:
    """Headers of an NGSI-LD write carrying entities in `media_type` for `tenant` (None: default tenant)."""
    headers = {"Content-Type": media_type, "Accept": JSON}
    if media_type == JSON:
        headers["Link"] = link_header(context_url)
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    return headers


def with_context(entities: list[dict]) -> list[dict]:
    """The ld+json form: every entity carries its own @context."""
    context = body_context()
    return [{**entity, "@context": context} for entity in entities]


def parse_link_context(link: str | None) -> str | None:
    """The @context URL of a Link header, or None when it names no JSON-LD context."""
    if not link:
        return None
    for part in link.split(","):
        url, _, params = part.strip().partition(";")
        if JSONLD_CONTEXT_REL in params and url.startswith("<") and url.endswith(">"):
            return url[1:-1]
    return None
