"""A small typed client of the gateway's HTTP API (what the `reverbere` operator commands use).

HTTP errors come back as the library's typed errors, so the CLI maps them to its documented exit codes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, Self

import httpx

from gateway.api.errors import Unauthorized
from gateway.errors import InvalidInput, NotFound, ProtocolError, ReverbereError, Timeout, Unavailable

DEFAULT_API = "http://127.0.0.1:8780"


_ERRORS: dict[int, type[ReverbereError]] = {
    400: InvalidInput,
    401: Unauthorized,
    404: NotFound,
    413: InvalidInput,
    503: Unavailable,
    504: Timeout,
}


class ApiClient:
    def __init__(
        self, base_url: str = DEFAULT_API, token: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token if token is not None else os.environ.get("REVERBERE_API_TOKEN")
        headers = {"Authorization": "Bearer %s" % self.token} if self.token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise Timeout("the gateway API at %s did not answer in time" % self.base_url) from exc
        except httpx.TransportError as exc:
            raise Unavailable("cannot reach the gateway API at %s: %s" % (self.base_url, exc)) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- reads
    def health(self) -> dict:
        return self._json("GET", "/healthz")

    def metrics_text(self) -> str:
        return self._request("GET", "/metrics").text

    def devices(self, state: str | None = None, site: str | None = None) -> list[dict]:
        params = {key: value for key, value in (("state", state), ("site", site)) if value}
        return self._json("GET", "/api/v1/devices", params=params)

    def device(self, node_id: str) -> dict:
        return self._json("GET", "/api/v1/devices/%s" % node_id)

    def history(self, node_id: str, limit: int = 100) -> list[dict]:
        return self._json("GET", "/api/v1/devices/%s/history" % node_id, params={"limit": limit})

    def report(self) -> dict:
        return self._json("GET", "/api/v1/inventory/report")

    def report_html(self) -> str:
        return self._request("GET", "/api/v1/inventory/report.html").text

    def export(self, kind: str, state: str | None = None, site: str | None = None) -> str:
        """`csv`, `geojson` or `ngsi-ld`; the document as text."""
        params = {key: value for key, value in (("state", state), ("site", site)) if value}
        return self._request("GET", "/api/v1/export/%s" % kind, params=params).text

    # -- admin actions (bearer token)
    def approve(self, node_id: str) -> dict:
        return self._json("POST", "/api/v1/devices/%s/approve" % node_id)

    def retire(self, node_id: str) -> dict:
        return self._json("POST", "/api/v1/devices/%s/retire" % node_id)

    def edit(self, node_id: str, **fields: Any) -> dict:
        return self._json("PATCH", "/api/v1/devices/%s" % node_id, json=fields)

    def import_csv(self, text: str, valid_only: bool = False) -> dict:
        return self._json(
            "POST",
            "/api/v1/devices/import",
            content=text.encode("utf-8"),
            params={"valid_only": "1"} if valid_only else None,
            headers={"Content-Type": "text/csv"},
        )

    def command(self, node_id: str, op: str, args: dict | None = None, timeout_s: float = 10.0) -> dict:
        body = {"op": op, "timeout": timeout_s, **({"args": args} if args else {})}
        return self._json("POST", "/api/v1/devices/%s/command" % node_id, json=body, timeout=timeout_s + 10.0)

    # -- live traffic
    def monitor(self, node: str | None = None, channel: str | None = None) -> Iterator[dict]:
        """Decoded traffic as it arrives (server-sent events), until the caller stops iterating."""
        params = {key: value for key, value in (("node", node), ("channel", channel)) if value}
        try:
            with self._http.stream(
                "GET", "/api/v1/monitor", params=params, timeout=httpx.Timeout(10.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        yield json.loads(line[len("data: ") :])
        except httpx.TransportError as exc:
            raise Unavailable("the monitor stream from %s broke: %s" % (self.base_url, exc)) from exc


def _error(response: httpx.Response) -> ReverbereError:
    try:
        message = response.json().get("message") or response.text
    except ValueError:
        message = response.text
    kind = _ERRORS.get(response.status_code, ProtocolError if response.status_code < 500 else ReverbereError)
    return kind("%s (HTTP %d)" % (message, response.status_code))
