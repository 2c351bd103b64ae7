"""clientela-nuvemshop: the Nuvemshop / Tiendanube source plugin, with its webhooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from clientela.hookspecs import hookimpl
from clientela.sources.api import SourceSpec, WebhookSpec
from clientela_nuvemshop.config import NuvemshopConfig
from clientela_nuvemshop.source import build_source, open_source

if TYPE_CHECKING:
    from clientela.webhooks.mappers import EventMapper

__version__ = "0.1.0"
__all__ = ["NUVEMSHOP", "NuvemshopConfig", "build_source", "register_sources"]


def webhook_mapper(section: Mapping[str, Any]) -> EventMapper:
    """Imported on use, so a sync never loads the web stack."""
    from clientela_nuvemshop.webhooks import webhook_mapper as build

    return build(section)


WEBHOOK = WebhookSpec(
    signature_header="X-Linkedstore-HMAC-SHA256",
    encoding="hex",
    topic_field="event",
    topics=("order/created", "order/updated", "order/paid", "order/cancelled",
            "customer/created", "customer/updated"),
    mapper=webhook_mapper,
)

NUVEMSHOP = SourceSpec(
    name="nuvemshop",
    description="Nuvemshop / Tiendanube: customers and orders (incremental), order lines",
    config=NuvemshopConfig,
    open=open_source,
    webhook=WEBHOOK,
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(NUVEMSHOP)
