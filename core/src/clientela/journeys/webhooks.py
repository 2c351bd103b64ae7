"""Delivery webhooks of the channels: verified, de-duplicated, applied to the ledger.

Mounted by `clientela serve` at `/channels/<name>`. Each channel plugin
supplies the plain functions that verify a request (its provider's
signature) and read it (statuses and inbound replies); this module does
the rest once for all of them:

* a request whose signature does not verify is refused with 401 and
  changes nothing;
* every event is recorded under its provider event id, so a replayed
  delivery is answered 200 (the provider must stop retrying) and applied
  zero times;
* statuses only move a message forward, whatever order they arrive in;
* an inbound reply opens WhatsApp's conversation window, and a reply that
  is an opt-out keyword (SAIR, PARE, STOP, CANCELAR...) or a status that
  says the person opted out is recorded as a consent event for every
  medium and purpose, so no later message reaches that person anywhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from clientela.channels.api import Channel
from clientela.channels.keywords import is_opt_out
from clientela.channels.sending import ChannelEvent, WebhookRequest
from clientela.journeys import ledger
from clientela.journeys.consent import MEDIA, record_opt_out
from clientela.journeys.contacts import e164
from clientela.privacy import email_digest
from clientela.store import Store
from clientela.store.migrations import MESSAGES_TABLE

if TYPE_CHECKING:
    from clientela.journeys.workspace import MessagingWorkspace

log = logging.getLogger("clientela.channels")
MAX_BODY = 1024 * 1024
PURPOSES = ("marketing", "relationship")


@dataclass(frozen=True)
class Applied:
    events: int = 0
    replays: int = 0
    opt_outs: int = 0


def _customer_by_address(store: Store, medium: str, address: str) -> str | None:
    if medium == "email":
        row = store.con.execute("SELECT customer_id FROM customers WHERE lower(email) = ? "
                                "ORDER BY customer_id LIMIT 1", [address.lower()]).fetchone()
        return str(row[0]) if row else None
    wanted = e164(address)
    if wanted is None:
        return None
    digits = wanted.lstrip("+")
    rows = store.con.execute(
        "SELECT customer_id, phone FROM customers WHERE phone IS NOT NULL AND "
        "regexp_replace(phone, '[^0-9]', '', 'g') LIKE ? ORDER BY customer_id",
        ["%" + digits[-8:]]).fetchall()
    for customer_id, phone in rows:
        if e164(phone) == wanted:
            return str(customer_id)
    return None


def apply(store: Store, channel: Channel, events: list[ChannelEvent],
          now: datetime | None = None) -> Applied:
    """Apply verified events to the ledger (one transaction)."""
    now = now or datetime.now(UTC)
    medium = channel.contact_medium
    stops: list[tuple[str, str, str, datetime]] = []
    """(customer, source, evidence, when): recorded after the ledger's transaction commits, since the
    consent ledger writes in its own."""
    with store.transaction() as con:
        new, replays = ledger.apply_events(con, channel.name, events, now)
        for event in events:
            if event.kind == "status" and event.opted_out:
                row = con.execute(f"SELECT customer_id FROM {MESSAGES_TABLE} WHERE message_key = ? "
                                  "OR (provider_id = ? AND channel = ?) LIMIT 1",
                                  [event.key, event.provider_id, channel.name]).fetchone()
                if row:
                    stops.append((str(row[0]), channel.name,
                                  f"status: {event.reason or 'opt-out'}", event.occurred_at))
            if event.kind != "inbound" or not event.address:
                continue
            customer = _customer_by_address(store, medium, event.address)
            stop = is_opt_out(event.text)
            fresh = ledger.record_inbound(con, channel.name, medium, event, customer,
                                          email_digest(event.address), stop)
            if not fresh:
                replays += 1
                continue
            new += 1
            if stop and customer is not None:
                keyword = (event.text or "").strip().upper()[:20]
                stops.append((customer, "channel_reply", f"{channel.name} reply {keyword!r}",
                              event.occurred_at))
    opt_outs = 0
    for customer, source, evidence, when in stops:
        opt_outs += record_opt_out(store, [customer], MEDIA, PURPOSES, source=source,
                                   evidence=evidence, occurred_at=when)
    return Applied(new, replays, opt_outs)


@dataclass
class ChannelWebhooks:
    store_target: Path | str
    """The store's DuckDB file or PostgreSQL URL: opened for each webhook, so the server
    holds no connection between deliveries."""
    channels: Mapping[str, tuple[Channel, BaseModel | None]]
    """channel name -> (channel, its validated config)."""
    public_url: str | None = None
    """The URL the providers call, up to `/channels` (they sign the URL they called, which a
    proxy in front of the server may rewrite); default: the URL as received."""
    opener: Callable[[Path | str], Store] = field(default=lambda target: Store(target))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _url(self, request: Request) -> str:
        if self.public_url is None:
            return str(request.url)
        tail = request.url.path.split("/channels", 1)[-1]
        query = f"?{request.url.query}" if request.url.query else ""
        return self.public_url.rstrip("/") + tail + query

    async def receive(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = self.channels.get(name)
        if found is None:
            return JSONResponse({"error": "no such channel"}, status_code=404)
        channel, config = found
        verify, parse = channel.verify_webhook, channel.parse_webhook
        if verify is None or parse is None:
            return JSONResponse({"error": "no such channel"}, status_code=404)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        form: dict[str, str] = {}
        if "x-www-form-urlencoded" in request.headers.get("content-type", ""):
            form = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        hook = WebhookRequest(self._url(request),
                              {k.lower(): v for k, v in request.headers.items()}, body, form)
        if not verify(config, hook):
            log.warning("%s: refused a webhook with a missing or invalid signature", name)
            return JSONResponse({"error": "missing or invalid signature"}, status_code=401)
        events = parse(config, hook)
        with self.lock, self.opener(self.store_target) as store:
            applied = apply(store, channel, events)
        return JSONResponse({"accepted": applied.events, "replays": applied.replays})

    async def verify(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = self.channels.get(name)
        handshake = found[0].handshake if found is not None else None
        if found is None or handshake is None:
            return JSONResponse({"error": "no such channel"}, status_code=404)
        answer = handshake(found[1], dict(request.query_params))
        if answer is None:
            return JSONResponse({"error": "verification refused"}, status_code=403)
        return PlainTextResponse(answer)

    def routes(self) -> list[Any]:
        return [Route("/{name}", self.receive, methods=["POST"]),
                Route("/{name}", self.verify, methods=["GET"])]

    def app(self) -> Starlette:
        """An ASGI app to mount at `/channels`."""
        return Starlette(routes=self.routes())


def channel_webhooks_app(loaded: MessagingWorkspace,
                         store_target: Path | str) -> Starlette | None:
    """The app `clientela serve` mounts at `/channels`: every configured `[channels.<name>]`
    whose plugin reads webhooks; None when there is none."""
    from clientela import plugins
    from clientela.journeys.routing import channel_config

    registry = plugins.registry()
    channels: dict[str, tuple[Channel, BaseModel | None]] = {}
    for name in loaded.channels_raw:
        channel = registry.get("channel", name)
        if channel.verify_webhook is not None and channel.parse_webhook is not None:
            channels[name] = (channel, channel_config(channel, loaded.channels_raw))
    if not channels:
        return None
    return ChannelWebhooks(store_target, channels,
                           public_url=loaded.messaging.public_url).app()
