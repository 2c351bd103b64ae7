"""clientela-woocommerce: the WooCommerce source plugin (REST v3), with its webhooks."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from clientela.hookspecs import hookimpl
from clientela.sources.api import SourceSpec, WebhookSpec
from clientela_woocommerce.config import WooCommerceConfig
from clientela_woocommerce.source import build_source, open_source

if TYPE_CHECKING:
    from clientela.webhooks.mappers import EventMapper

__version__ = "0.1.0"
__all__ = ["WOOCOMMERCE", "WooCommerceConfig", "build_source", "register_sources"]


def webhook_mapper(section: Mapping[str, Any]) -> EventMapper:
    """Imported on use, so a sync never loads the web stack."""
    from clientela_woocommerce.webhooks import webhook_mapper as build

    return build(section)


WEBHOOK = WebhookSpec(
    signature_header="X-WC-Webhook-Signature",
    encoding="base64",
    id_header="X-WC-Webhook-Delivery-ID",
    topic_header="X-WC-Webhook-Topic",
    topics=("order.created", "order.updated", "customer.created", "customer.updated"),
    unsigned_ping=re.compile(rb"^webhook_id=\d+$"),
    mapper=webhook_mapper,
)

WOOCOMMERCE = SourceSpec(
    name="woocommerce",
    description="WooCommerce REST v3: customers, orders (incremental), order lines, refunds",
    config=WooCommerceConfig,
    open=open_source,
    webhook=WEBHOOK,
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(WOOCOMMERCE)
