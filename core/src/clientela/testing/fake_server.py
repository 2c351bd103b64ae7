"""A small threaded HTTP server on 127.0.0.1 that a fake platform API builds on.

Each fake implements `route(request) -> Reply` with the platform's paging,
filters, auth and error bodies; this base adds the faults every platform
can show (throttling storms, 5xx bursts, connection resets) and a log of
every request, so tests can count calls exactly.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: Any = None
    """The decoded request body: JSON, a form as a dict, else text; None when empty."""
    size: int = 0
    """The raw body's length in bytes (for payload limits)."""

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """JSON-able, or `str`/`bytes` sent as they are."""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=UTF-8"

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode() if self.body is not None else b""


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: dict[str, str]
    status: int | None
    """None for a connection reset."""


@dataclass
class Faults:
    """Misbehaviour for the next requests, consumed in order: resets, 5xx, 429s."""

    resets: int = 0
    server_errors: int = 0
    server_error_status: int = 503
    throttles: int = 0
    retry_after: str | None = "1"
    every_nth_throttled: int = 0
    """When set, every nth request is throttled (a steady storm)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small response waits ~40 ms for a delayed ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _body(self) -> tuple[Any, int]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, 0
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            return dict(parse_qsl(raw.decode())), length
        try:
            return json.loads(raw), length
        except ValueError:
            return raw.decode(errors="replace"), length

    def _serve(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        body, size = self._body()
        path = unquote(parts.path) if fake.unquote_paths else parts.path
        request = Request(self.command, path, dict(parse_qsl(parts.query)),
                          dict(self.headers.items()), body, size)
        reply = fake.serve(request)
        if reply is None:  # a reset: hang up without a word
            self.close_connection = True
            self.connection.shutdown(2)
            return
        data = reply.payload()
        try:
            self.send_response(reply.status)
            if data or reply.status != 204:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed meanwhile
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer


class FakeServer:
    """Start with `with FakeX(...) as fake:`; `fake.url` is the API root."""

    api_prefix = ""
    unquote_paths = False
    """Percent-decode request paths (APIs that put an e-mail address in the path)."""
    max_connections: int | None = None
    """Requests in flight beyond this get `too_many_connections` (an API's concurrency cap)."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.flight_lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.log: list[Logged] = []
        self.lock = threading.RLock()
        self.on_request: Callable[[Request, int], None] | None = None
        """Called before each request is served, with its 1-based number (edits mid-sync)."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host  # the socket API may give bytes
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.origin + self.api_prefix

    # -- serving --------------------------------------------------------------------

    def serve(self, request: Request) -> Reply | None:
        """Counts requests in flight (answering over the cap with `too_many_connections`),
        then dispatches; the count drops before the answer is written, as the client may
        reconnect at once."""
        with self.flight_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            over = self.max_connections is not None and self.in_flight > self.max_connections
        try:
            return self.too_many_connections(request) if over else self.dispatch(request)
        finally:
            with self.flight_lock:
                self.in_flight -= 1

    def too_many_connections(self, request: Request) -> Reply:
        return Reply(429, {"error": "too many concurrent connections"})

    def dispatch(self, request: Request) -> Reply | None:
        with self.lock:
            number = len(self.log) + 1
            if self.on_request is not None:
                self.on_request(request, number)
            reply = self._fault(number)
            if reply is None and self.faults.resets > 0:
                self.faults.resets -= 1
                self.log.append(Logged(request.method, request.path, request.query, None))
                return None
            if reply is None:
                reply = self.route(request)
            self.log.append(Logged(request.method, request.path, request.query, reply.status))
            return reply

    def _fault(self, number: int) -> Reply | None:
        faults = self.faults
        if faults.resets > 0:
            return None
        if faults.server_errors > 0:
            faults.server_errors -= 1
            return self.server_error(faults.server_error_status)
        nth = faults.every_nth_throttled
        if faults.throttles > 0 or (nth and number % nth == 0):
            faults.throttles = max(0, faults.throttles - 1)
            return self.throttled(faults.retry_after)
        return None

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    def throttled(self, retry_after: str | None) -> Reply:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(429, "<html><body><h1>429 Too Many Requests</h1></body></html>",
                     headers, content_type="text/html")

    def server_error(self, status: int) -> Reply:
        return Reply(status, f"<html><body><h1>{status} Service Unavailable</h1></body></html>",
                     content_type="text/html")

    # -- counting -------------------------------------------------------------------

    def count(self, *, path: str | None = None, status: int | None = None,
              resets: bool = False) -> int:
        with self.lock:
            return sum(
                1 for entry in self.log
                if (path is None or entry.path.endswith(path))
                and (status is None or entry.status == status)
                and (not resets or entry.status is None)
            )

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()


def render_list(items: list[tuple[str, Any]], malformed: set[str]) -> str:
    """A JSON array written element by element, with chosen records deliberately broken.

    The breakage is what servers really emit: a raw control character in a
    string (strict JSON refuses it) or a decimal comma in a number.
    """
    parts = []
    for key, item in items:
        text = json.dumps(item)
        if key in malformed:
            if int(key) % 2:
                text = text.replace('"id": ', '"note": "tab\there", "id": ', 1)
            else:
                text = text[:-1] + ', "weight": 12,50}'
        parts.append(text)
    return "[" + ", ".join(parts) + "]"


WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class Call:
    """A request as a recording fake keeps it: with its body and the status it was given."""

    method: str
    path: str
    body: Any
    status: int
    """0 for a connection reset."""


class RecordingFake(FakeServer):
    """A `FakeServer` that keeps every call with its body, for tests that check what was
    sent (a destination's writes), not only how many requests came."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def dispatch(self, request: Request) -> Reply | None:
        reply = super().dispatch(request)
        with self.lock:
            self.calls.append(Call(request.method, request.path, request.body,
                                   reply.status if reply is not None else 0))
        return reply

    def writes(self, pattern: str | None = None, *, status: int | None = None) -> list[Call]:
        """Write calls the server accepted (2xx), or answered with `status`; `pattern` is a
        regular expression searched in the path."""
        with self.lock:
            return [c for c in self.calls if c.method in WRITES
                    and (c.status < 300 if status is None else c.status == status)
                    and (pattern is None or re.search(pattern, c.path))]

    def reset_calls(self) -> None:
        """Forget the calls and the request log (between two runs of one test)."""
        with self.lock:
            self.calls.clear()
            self.log.clear()


class VirtualClock:
    """Shared by the fake's bucket and the client's sleep: sleeping moves time on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
