"""clientela-source-example: a source plugin that declares its webhook.

The shop keeps customers in a JSON file (`customers_file`); a sync reads
them, and the shop pushes each change as a signed webhook whose body is the
customer. Both paths map a record with `customer_row`, so they land the
same row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from clientela.connectors import Mapped
from clientela.hookspecs import hookimpl
from clientela.model.entities import Customer
from clientela.sources.api import SourceBatch, SourceSpec, Stream, WebhookSpec

__version__ = "0.1.0"
__all__ = ["EXAMPLE_SHOP", "ExampleShopConfig", "customer_row", "register_sources"]

CUSTOMERS = Stream("customers", Customer)


class ExampleShopConfig(BaseModel):
    """`[sources.example_shop]`: where the shop's export lives."""

    model_config = ConfigDict(extra="forbid")

    customers_file: Path | None = None
    source_name: str = "example_shop"


def customer_row(raw: Mapping[str, Any]) -> Mapped:
    """The shop's customer JSON to canonical fields; a missing id raises (the core
    quarantines the record with the reason)."""
    return Mapped({
        "customer_id": str(raw["id"]),
        "email": raw.get("email"),
        "first_name": raw.get("name"),
        "created_at": raw.get("created"),
        "updated_at": raw.get("updated"),
    })


class ExampleShopSource:
    def __init__(self, config: ExampleShopConfig) -> None:
        self.config = config

    def streams(self) -> Sequence[Stream]:
        return (CUSTOMERS,)

    def read(self, stream: Stream, state: Mapping[str, Any]) -> Iterator[SourceBatch]:
        path = self.config.customers_file
        records = json.loads(path.read_text()) if path is not None else []
        yield SourceBatch(stream, [customer_row(r).row for r in records], state={"done": True})


def open_source(config: ExampleShopConfig) -> ExampleShopSource:
    return ExampleShopSource(config)


def webhook_mapper(section: Mapping[str, Any]) -> Any:
    """Built once by `clientela serve`; imports the web side only then."""
    from clientela.webhooks.mappers import PayloadEvents

    config = ExampleShopConfig.model_validate(dict(section))
    return PayloadEvents(config.source_name, order=None, customer=customer_row)


EXAMPLE_SHOP = SourceSpec(
    name="example_shop",
    description="An example shop: customers from a JSON file, and its signed webhooks",
    config=ExampleShopConfig,
    open=open_source,
    webhook=WebhookSpec(
        signature_header="X-Example-Signature",
        encoding="hex",
        id_header="X-Example-Delivery",
        topic_header="X-Example-Topic",
        topics=("customer.created", "customer.updated"),
        mapper=webhook_mapper,
    ),
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(EXAMPLE_SHOP)
