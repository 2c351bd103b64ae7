"""The live report: `clientela serve` answers `GET /` with the same page `clientela report` writes.

Read-only: the store is opened read-only for each rebuild, and nothing on
the page can change it. A page is rebuilt on request when the cached one is
older than `ttl` seconds (one build at a time; the others wait for it), so
a refresh storm costs one report. Bound to a loopback address the page is
open; bound to any other address it needs the token (`?token=` or
`Authorization: Bearer`), and with no token configured it stays shut.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from clientela.formatting import LANGUAGES

log = logging.getLogger("clientela.report")

DEFAULT_TTL = 60.0
SECURITY_HEADERS = {
    # the page has no script and loads nothing: say so, so a browser enforces it
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class LivePage:
    build: Callable[[str], str]
    """lang -> the page's HTML (opens the store, builds the report, closes it)."""
    token: str | None = field(default=None, repr=False)
    require_token: bool = False
    default_lang: str = "en"
    ttl: float = DEFAULT_TTL
    clock: Callable[[], float] = time.monotonic
    builds: int = 0
    _cache: dict[str, tuple[float, str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _refused(self, request: Request) -> Response | None:
        if not self.require_token:
            return None
        if self.token is None:
            return PlainTextResponse(
                "the report is not served on this address: start `clientela serve` with "
                "--report-token (or CLIENTELA_REPORT_TOKEN) to open it beyond this machine",
                status_code=403)
        given = request.query_params.get("token")
        header = request.headers.get("authorization", "")
        if given is None and header.lower().startswith("bearer "):
            given = header[7:].strip()
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            return PlainTextResponse("a valid token is required (?token=... or "
                                     "Authorization: Bearer ...)", status_code=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        return None

    def html(self, lang: str) -> str:
        """The cached page when fresh, else a new one (one build at a time)."""
        with self._lock:
            found = self._cache.get(lang)
            if found is not None and self.clock() - found[0] < self.ttl:
                return found[1]
            page = self.build(lang)
            self.builds += 1
            self._cache[lang] = (self.clock(), page)
            return page

    async def page(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        lang = request.query_params.get("lang", self.default_lang)
        if lang not in LANGUAGES:
            return PlainTextResponse(f"lang {lang!r}: expected one of {', '.join(LANGUAGES)}",
                                     status_code=400)
        try:
            page = await run_in_threadpool(self.html, lang)
        except Exception as error:  # a busy store or a broken one: say so, keep serving
            log.error("could not build the report: %s", error)
            return PlainTextResponse(f"could not build the report: {error}", status_code=503)
        return HTMLResponse(page, headers={
            "Cache-Control": f"private, max-age={int(self.ttl)}", **SECURITY_HEADERS})


def routes(live: LivePage) -> list[Any]:
    return [Route("/", live.page, methods=["GET"])]


def mount(app: Starlette, live: LivePage) -> None:
    """Add `GET /` to an existing app (the webhook receiver's)."""
    for route in routes(live):
        app.router.routes.append(route)


def report_app(live: LivePage) -> Starlette:
    """An app serving the report alone (no webhook configured)."""
    return Starlette(routes=routes(live))


def for_store(store_path: Path, *, host: str, token: str | None, lang: str, timezone: str,
              currency: str, title: str, memory_limit: str | None = None,
              ttl: float = DEFAULT_TTL) -> LivePage:
    """The live page of a store file, in the workspace's time zone and currency."""
    from clientela.formatting import locale_of
    from clientela.report import ReportRequest, build_report
    from clientela.store import Store

    locale_of(lang)  # an unknown language stops `serve` before it listens

    def build(page_lang: str) -> str:
        request = ReportRequest(lang=page_lang, timezone=timezone, currency=currency,
                                store_name=title)
        with Store(store_path, read_only=True, memory_limit=memory_limit) as store:
            return build_report(store, request).html

    return LivePage(build, token=token, require_token=not is_loopback(host), default_lang=lang,
                    ttl=ttl)
