"""Turning spooled deliveries into canonical rows, with each platform's own mapper.

The mapping is the connector's (`clientela_woocommerce`, `clientela_nuvemshop`,
`clientela_shopify`), imported, never re-written here: a webhook and a sync
of the same record must land the same row.

Interface for a platform package that wants its webhooks applied: expose
`webhook_mapper(section: dict) -> EventMapper` (the `[sources.<platform>]`
section without the webhook keys). Shopify is looked up that way; until its
package provides it, Shopify deliveries are verified and spooled, and wait
in the spool, unapplied, for a mapper.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from clientela.connectors import ConnectorError, HttpError, Mapped
from clientela.connectors.mapping import reject_error, rejection
from clientela.model.validation import Rejection
from clientela.webhooks.platforms import kind_of
from clientela.webhooks.spool import SpooledEvent

log = logging.getLogger("clientela.webhooks")

WEBHOOK_KEYS = ("webhook_secret",)
MAPPING_FAILURES = (ValueError, KeyError, TypeError, AttributeError, ArithmeticError)
STREAM_OF_KIND = {"order": "orders", "customer": "customers"}
ENTITY_OF_STREAM = {"orders": "Order", "customers": "Customer"}


@dataclass(frozen=True)
class EventResult:
    """One delivery's effect: rows for a stream, a rejection, or nothing (`ignored`)."""

    seq: int
    stream: str | None = None
    mapped: Mapped | None = None
    rejection: Rejection | None = None
    ignored: str | None = None


class EventMapper(Protocol):
    source_name: str

    def map_events(self, events: Sequence[SpooledEvent]) -> list[EventResult]:
        """Every event gets a result; raising means 'try this batch again later'."""
        ...


def connector_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """The section as the connector's config expects it: without the receiver's keys."""
    return {k: v for k, v in section.items() if k not in WEBHOOK_KEYS}


def _map_one(event: SpooledEvent, stream: str, raw: Any,
             mapper: Callable[[Mapping[str, Any]], Mapped]) -> EventResult:
    entity = ENTITY_OF_STREAM[stream]
    if not isinstance(raw, Mapping):
        return EventResult(event.seq, stream, rejection=rejection(
            entity, None, raw, "(record)", "expected a JSON object"))
    key = raw.get("id")
    try:
        return EventResult(event.seq, stream, mapped=mapper(raw))
    except MAPPING_FAILURES as error:
        return EventResult(event.seq, stream, rejection=reject_error(
            entity, str(key) if key is not None else None, raw, error))


def _payload(event: SpooledEvent, stream: str) -> tuple[Any, EventResult | None]:
    try:
        return event.payload(), None
    except ValueError:
        bad = {"__raw__": event.body[:2_000].decode("utf-8", "replace")}
        return None, EventResult(event.seq, stream, rejection=rejection(
            ENTITY_OF_STREAM[stream], event.delivery_id, bad, "(record)",
            "the webhook body is not valid JSON"))


class PayloadEvents:
    """Platforms whose payload is the record itself (WooCommerce; Shopify's REST shapes)."""

    def __init__(self, source_name: str, order: Callable[[Mapping[str, Any]], Mapped],
                 customer: Callable[[Mapping[str, Any]], Mapped],
                 ignore_actions: Iterable[str] = ("deleted", "delete")) -> None:
        self.source_name = source_name
        self.mappers = {"orders": order, "customers": customer}
        self.ignore_actions = set(ignore_actions)

    def map_events(self, events: Sequence[SpooledEvent]) -> list[EventResult]:
        results = []
        for event in events:
            kind, action = kind_of(event.topic)
            if kind is None or action in self.ignore_actions:
                results.append(EventResult(event.seq, ignored=f"topic {event.topic}"))
                continue
            stream = STREAM_OF_KIND[kind]
            raw, failed = _payload(event, stream)
            results.append(failed or _map_one(event, stream, raw, self.mappers[stream]))
        return results


def woocommerce_mapper(section: Mapping[str, Any]) -> EventMapper:
    from clientela_woocommerce import WooCommerceConfig
    from clientela_woocommerce.mapping import WooMapper

    config = WooCommerceConfig.model_validate(connector_section(section))
    mapper = WooMapper(config)
    return PayloadEvents(config.source_name, mapper.order, mapper.customer)


class NuvemshopEvents:
    """Nuvemshop sends `{store_id, event, id}`: the record is fetched, once per batch."""

    PATHS: ClassVar[dict[str, str]] = {"orders": "orders/{id}", "customers": "customers/{id}"}

    def __init__(self, source_name: str, store_id: str, get_json: Callable[[str], Any],
                 order: Callable[[Mapping[str, Any]], Mapped],
                 customer: Callable[[Mapping[str, Any]], Mapped]) -> None:
        self.source_name, self.store_id, self.get_json = source_name, store_id, get_json
        self.mappers = {"orders": order, "customers": customer}

    def _fetch(self, stream: str, record_id: str) -> Any:
        """The record, or a rejection reason when the platform says it cannot be had."""
        try:
            return self.get_json(self.PATHS[stream].format(id=record_id))
        except HttpError as error:
            if error.transient:
                raise  # the batch waits in the spool and is tried again
            return ConnectorError(str(error))

    def map_events(self, events: Sequence[SpooledEvent]) -> list[EventResult]:
        fetched: dict[tuple[str, str], Any] = {}
        results = []
        for event in events:
            kind, _ = kind_of(event.topic)
            if kind is None:
                results.append(EventResult(event.seq, ignored=f"topic {event.topic}"))
                continue
            stream = STREAM_OF_KIND[kind]
            note, failed = _payload(event, stream)
            if failed is not None:
                results.append(failed)
                continue
            record_id = note.get("id") if isinstance(note, Mapping) else None
            store = str(note.get("store_id")) if isinstance(note, Mapping) else None
            if record_id in (None, "") or store != self.store_id:
                reason = "no record id" if record_id in (None, "") else \
                    f"store {store} is not the configured store"
                results.append(EventResult(event.seq, stream, rejection=rejection(
                    ENTITY_OF_STREAM[stream], str(record_id or "?"), note, "(record)", reason)))
                continue
            key = (stream, str(record_id))
            if key not in fetched:
                fetched[key] = self._fetch(stream, str(record_id))
            raw = fetched[key]
            if isinstance(raw, ConnectorError):
                results.append(EventResult(event.seq, stream, rejection=rejection(
                    ENTITY_OF_STREAM[stream], str(record_id), note, "(record)",
                    f"could not fetch it: {raw}")))
                continue
            results.append(_map_one(event, stream, raw, self.mappers[stream]))
        return results


def nuvemshop_mapper(section: Mapping[str, Any]) -> EventMapper:
    from clientela_nuvemshop import NuvemshopConfig
    from clientela_nuvemshop.mapping import NuvemshopMapper
    from clientela_nuvemshop.source import build_client

    config = NuvemshopConfig.model_validate(connector_section(section))
    mapper = NuvemshopMapper(config)
    client = build_client(config)
    return NuvemshopEvents(config.source_name, config.store_id,
                           lambda path: client.get_json(path)[0], mapper.order, mapper.customer)


def shopify_mapper(section: Mapping[str, Any]) -> EventMapper | None:
    """The Shopify package's own `webhook_mapper`, if it has one yet."""
    try:
        module = importlib.import_module("clientela_shopify")
    except ImportError:
        return None
    factory = getattr(module, "webhook_mapper", None)
    if factory is None:
        return None
    built: EventMapper = factory(connector_section(section))
    return built


FACTORIES: dict[str, Callable[[Mapping[str, Any]], EventMapper | None]] = {
    "woocommerce": woocommerce_mapper,
    "nuvemshop": nuvemshop_mapper,
    "shopify": shopify_mapper,
}


def build_mappers(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, EventMapper | None]:
    """A mapper per platform with a webhook secret; None where none is installed yet."""
    mappers: dict[str, EventMapper | None] = {}
    for platform, factory in FACTORIES.items():
        section = sections.get(platform)
        if section is None or not section.get("webhook_secret"):
            continue
        try:
            mappers[platform] = factory(section)
        except ImportError:
            mappers[platform] = None
        if mappers[platform] is None:
            log.warning("%s: no webhook mapper installed; deliveries are spooled, not applied",
                        platform)
    return mappers
