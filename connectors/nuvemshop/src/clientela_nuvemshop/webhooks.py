"""Nuvemshop webhooks: a delivery is only a pointer, `{store_id, event, id}`.

`clientela serve` verifies `X-Linkedstore-HMAC-SHA256` (hex HMAC-SHA256 of
the raw body, keyed by the app secret); the topic is the body's `event`
(`order/paid`, `customer/updated`, ...). Nuvemshop sends no delivery id, so
deliveries are not deduplicated: each one makes the mapper fetch the record
(once per batch) and map it with the sync's own mapper, and fetching twice
is harmless. A pointer to another store is rejected, not fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from clientela.http import ConnectorError, HttpError
from clientela.sources.toolkit import Mapped
from clientela.sources.toolkit.mapping import rejection
from clientela.webhooks.declared import kind_of
from clientela.webhooks.mappers import (
    ENTITY_OF_STREAM,
    STREAM_OF_KIND,
    EventMapper,
    EventResult,
    map_record,
    payload_of,
)
from clientela.webhooks.spool import SpooledEvent
from clientela_nuvemshop.config import NuvemshopConfig
from clientela_nuvemshop.mapping import NuvemshopMapper


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
            note, failed = payload_of(event, stream)
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
            results.append(map_record(event, stream, raw, self.mappers[stream]))
        return results


def webhook_mapper(section: Mapping[str, Any]) -> EventMapper:
    from clientela_nuvemshop.source import build_client

    config = NuvemshopConfig.model_validate(dict(section))
    mapper = NuvemshopMapper(config)
    client = build_client(config)
    return NuvemshopEvents(config.source_name, config.store_id,
                           lambda path: client.get_json(path)[0], mapper.order, mapper.customer)

