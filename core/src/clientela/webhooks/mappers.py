"""Turning spooled deliveries into canonical rows, with each source's own mapper.

The mapping is the source plugin's, declared in its `WebhookSpec.mapper`,
never re-written here: a webhook and a sync of the same record must land
the same row. This module holds the contract (`EventMapper`, `EventResult`,
`PrivacyRequest`) and the generic pieces a plugin's mapper is built from
(`PayloadEvents` for platforms whose body is the record, `map_record`,
`payload_of`). A source whose mapper cannot be built (its package is
missing a dependency) still has its deliveries verified and spooled; they
wait in the spool, unapplied, until a mapper is there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from clientela.connectors import Mapped
from clientela.connectors.mapping import reject_error, rejection
from clientela.model.validation import Rejection
from clientela.sources.api import WebhookSpec
from clientela.webhooks.declared import kind_of
from clientela.webhooks.spool import SpooledEvent

log = logging.getLogger("clientela.webhooks")

WEBHOOK_KEYS = ("webhook_secret",)
MAPPING_FAILURES = (ValueError, KeyError, TypeError, AttributeError, ArithmeticError)
STREAM_OF_KIND = {"order": "orders", "customer": "customers"}
ENTITY_OF_STREAM = {"orders": "Order", "customers": "Customer"}


@dataclass(frozen=True)
class PrivacyRequest:
    """A person's (or a whole shop's) privacy request that arrived as a webhook.

    `forget` erases the person from the store and every destination, as `clientela forget`
    does; `export` writes what the store holds about them to a JSON file. The person is
    found by e-mail, or by the source's customer id when no e-mail is sent; `everyone`
    means every customer this source brought (a shop that uninstalled the app).
    """

    action: Literal["forget", "export"]
    email: str | None = None
    customer_id: str | None = None
    everyone: bool = False


@dataclass(frozen=True)
class EventResult:
    """One delivery's effect: rows for a stream, a rejection, a privacy request, or nothing
    (`ignored`)."""

    seq: int
    stream: str | None = None
    mapped: Mapped | None = None
    rejection: Rejection | None = None
    ignored: str | None = None
    privacy: PrivacyRequest | None = None


class EventMapper(Protocol):
    source_name: str

    def map_events(self, events: Sequence[SpooledEvent]) -> list[EventResult]:
        """Every event gets a result; raising means 'try this batch again later'."""
        ...


def connector_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """The section as the connector's config expects it: without the receiver's keys."""
    return {k: v for k, v in section.items() if k not in WEBHOOK_KEYS}


def map_record(event: SpooledEvent, stream: str, raw: Any,
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


def payload_of(event: SpooledEvent, stream: str) -> tuple[Any, EventResult | None]:
    try:
        return event.payload(), None
    except ValueError:
        bad = {"__raw__": event.body[:2_000].decode("utf-8", "replace")}
        return None, EventResult(event.seq, stream, rejection=rejection(
            ENTITY_OF_STREAM[stream], event.delivery_id, bad, "(record)",
            "the webhook body is not valid JSON"))


class PayloadEvents:
    """Platforms whose payload is the record itself: `order*/...` topics carry an order,
    `customer*/...` a customer (`/` or `.` separated). A source without one of the two
    passes None for it, and those topics are ignored."""

    def __init__(self, source_name: str, order: Callable[[Mapping[str, Any]], Mapped] | None,
                 customer: Callable[[Mapping[str, Any]], Mapped] | None,
                 ignore_actions: Iterable[str] = ("deleted", "delete")) -> None:
        self.source_name = source_name
        self.mappers = {"orders": order, "customers": customer}
        self.ignore_actions = set(ignore_actions)

    def map_events(self, events: Sequence[SpooledEvent]) -> list[EventResult]:
        results = []
        for event in events:
            kind, action = kind_of(event.topic)
            mapper = self.mappers[STREAM_OF_KIND[kind]] if kind is not None else None
            if mapper is None or action in self.ignore_actions:
                results.append(EventResult(event.seq, ignored=f"topic {event.topic}"))
                continue
            stream = STREAM_OF_KIND[kind]  # type: ignore[index]
            raw, failed = payload_of(event, stream)
            results.append(failed or map_record(event, stream, raw, mapper))
        return results


def build_mappers(sections: Mapping[str, Mapping[str, Any]],
                  webhooks: Mapping[str, WebhookSpec] | None = None
                  ) -> dict[str, EventMapper | None]:
    """A mapper per declared webhook whose section has a secret; None where it cannot be
    built yet (its deliveries are spooled and wait). `webhooks` defaults to the registry's."""
    if webhooks is None:
        from clientela.webhooks.declared import declared_webhooks

        webhooks = declared_webhooks()
    mappers: dict[str, EventMapper | None] = {}
    for name, spec in webhooks.items():
        section = sections.get(name)
        if section is None or not section.get("webhook_secret"):
            continue
        try:
            mappers[name] = spec.mapper(connector_section(section))
        except ImportError:
            mappers[name] = None
        if mappers[name] is None:
            log.warning("%s: no webhook mapper installed; deliveries are spooled, not applied",
                        name)
    return mappers
