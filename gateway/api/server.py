"""The HTTP shell of the API: a stdlib ThreadingHTTPServer that hands requests to `Api` and streams
`monitor` as server-sent events."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from gateway.api.app import Api, Request, parse_query
from gateway.errors import InvalidInput
from gateway.logs import log

logger = logging.getLogger("gateway.api")
MAX_BODY = 16 * 1024 * 1024  # a CSV import of a whole city fits; anything bigger is refused
MONITOR_PATH = "/api/v1/monitor"


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(
                413, b'{"error":"InvalidInput","message":"request body too large"}', "application/json"
            )
            return
        body = self.rfile.read(length) if length else b""
        if parts.path == MONITOR_PATH and self.command == "GET":
            self._monitor(parse_query(parts.query))
            return
        request = Request(
            self.command,
            parts.path,
            parse_query(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        response = self.server.pool.submit(self.server.api.handle, request).result()
        self._send(response.status, response.body, response.content_type, response.headers)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _monitor(self, query: dict[str, str]) -> None:
        tap = self.server.api.tap
        if tap is None:
            self._send(503, b'{"error":"Unavailable","message":"no broker connection"}', "application/json")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b": following\n\n")
            self.wfile.flush()
            for event in tap.follow(query.get("node"), query.get("channel"), self.server.stopping, 5.0):
                line = b": idle\n\n" if event is None else b"data: %s\n\n" % json.dumps(event).encode()
                self.wfile.write(line)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader went away

    def log_message(self, format: str, *args) -> None:
        log(logger, "http", logging.DEBUG, request=format % args)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: Api, host: str, port: int) -> None:
        self.api = api
        self.stopping = threading.Event()
        # Requests run on a few long-lived workers: the store keeps one database connection per thread, and
        # a thread per request would open (and keep) a connection per request.
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="api")
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise InvalidInput("cannot listen on %s:%d: %s" % (host, port, exc.strerror)) from exc
        self._thread = threading.Thread(target=self.serve_forever, name="http-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host if ":" not in host else "[%s]" % host, port)

    def start(self) -> ApiServer:
        self._thread.start()
        log(logger, "http-listening", url=self.url)
        return self

    def close(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self.pool.shutdown(
            wait=False, cancel_futures=True
        )  # a command waiting for its ack must not hold shutdown
        if self.api.tap is not None:
            self.api.tap.close()
