"""The ASGI app: verify, spool, answer; the applier runs beside it.

A delivery is answered 200 only after it is committed to the spool (or
found there already), so a crash after the answer loses nothing and a
crash before it makes the platform deliver again. Everything else the
platform could retry is refused without touching the disk: 401 for a
missing or wrong signature, 404 for a source that declares no webhook or
has no configured secret, 413 for an oversized body. A spool failure answers 503 so the
platform retries. At most `max_waiting` deliveries wait for the spool at
once; the rest wait for a slot, so memory stays bounded under a flood.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clientela.sources.api import WebhookSpec
from clientela.webhooks.applier import Applier
from clientela.webhooks.declared import declared_webhooks
from clientela.webhooks.signatures import verify
from clientela.webhooks.spool import Spool

log = logging.getLogger("clientela.webhooks")

MAX_BODY = 5 * 1024 * 1024


@dataclass
class ReceiverStats:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    pings: int = 0


@dataclass
class Receiver:
    spool: Spool
    secrets: Mapping[str, Sequence[str]] = field(repr=False)
    """source -> valid secrets (several during a rotation); never logged or shown."""
    applier: Applier | None = None
    webhooks: Mapping[str, WebhookSpec] | None = None
    """source -> its declared webhook; default: every installed source that declares one."""
    max_waiting: int = 1_024
    max_body: int = MAX_BODY
    stats: ReceiverStats = field(default_factory=ReceiverStats)

    def __post_init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None
        if self.webhooks is None:
            self.webhooks = declared_webhooks()

    def _platform(self, name: str) -> WebhookSpec | None:
        spec = (self.webhooks or {}).get(name)
        return spec if spec is not None and self.secrets.get(name) else None

    def serving(self) -> list[str]:
        """The sources this receiver takes deliveries for (declared and with a secret)."""
        return sorted(p for p in (self.webhooks or {}) if self.secrets.get(p))

    async def _body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def receive(self, request: Request) -> JSONResponse:
        name = request.path_params["platform"]
        spec = self._platform(name)
        if spec is None:
            return JSONResponse({"error": "no webhook secret is configured for this platform"},
                                status_code=404)
        body = await self._body(request)
        if body is None:
            return JSONResponse({"error": "body too large"}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        given = headers.get(spec.signature_header.lower())
        if given is None and spec.is_unsigned_ping(body):
            self.stats.pings += 1
            return JSONResponse({"status": "pong"})
        if not verify(self.secrets[name], body, given, spec.encoding):
            self.stats.refused += 1
            log.warning("%s: refused a delivery with a %s signature", name,
                        "missing" if given is None else "wrong")
            return JSONResponse({"error": "missing or invalid signature"}, status_code=401)
        delivery = spec.delivery_id(headers)
        topic = spec.topic(headers, body)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_waiting)
        try:
            async with self._slots:
                new = await asyncio.wrap_future(self.spool.submit(name, delivery, topic, body))
        except Exception as error:  # the disk said no: the platform must retry
            log.error("%s: could not spool a delivery: %s", name, type(error).__name__)
            return JSONResponse({"error": "could not store the delivery"}, status_code=503)
        if new:
            self.stats.accepted += 1
        else:
            self.stats.duplicates += 1
        return JSONResponse({"status": "accepted" if new else "duplicate"})

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "platforms": self.serving()})


def create_app(receiver: Receiver, *, apply_in_background: bool = True,
               drain_on_shutdown: bool = True, routes: Sequence[Any] = ()) -> Starlette:
    """The app; on startup the spool writer (and the applier thread) start, on shutdown they
    stop after the spool is flushed and, by default, applied. `routes` are served beside the
    webhook routes (Starlette `Route`s, e.g. a page at `/`)."""
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        receiver.spool.start()
        thread: threading.Thread | None = None
        if receiver.applier is not None and apply_in_background:
            applier = receiver.applier
            receiver.spool.on_commit = applier.wake.set
            thread = threading.Thread(target=applier.run, args=(stop,), name="webhook-applier",
                                      daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                receiver.applier.wake.set()  # type: ignore[union-attr]
                thread.join()
            receiver.spool.stop_writer()
            if receiver.applier is not None and drain_on_shutdown:
                try:
                    receiver.applier.drain()
                except Exception:
                    log.exception("could not apply the last deliveries; they stay spooled")
            receiver.spool.close()

    served: list[Any] = [
        Route("/webhooks/{platform}", receiver.receive, methods=["POST"]),
        Route("/healthz", receiver.health, methods=["GET"]),
        *routes,
    ]
    return Starlette(routes=served, lifespan=lifespan)
