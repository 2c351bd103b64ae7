"""clientela-shopify: the Shopify source plugin (Admin GraphQL API)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from clientela.hookspecs import hookimpl
from clientela.sources.api import SourceSpec, WebhookSpec
from clientela_shopify.config import API_VERSION, ShopifyConfig
from clientela_shopify.graphql import GraphQLError
from clientela_shopify.source import ShopifySource, build_source, open_source

if TYPE_CHECKING:
    from clientela.webhooks.mappers import EventMapper

__version__ = "0.1.0"
__all__ = [
    "API_VERSION",
    "SHOPIFY",
    "WEBHOOK",
    "GraphQLError",
    "ShopifyConfig",
    "ShopifySource",
    "build_source",
    "register_sources",
    "webhook_mapper",
]

def webhook_mapper(section: Mapping[str, Any]) -> EventMapper:
    """For `clientela serve`; imported on use, so a sync never loads the web stack."""
    from clientela_shopify.webhooks import webhook_mapper as build

    return build(section)


WEBHOOK = WebhookSpec(
    signature_header="X-Shopify-Hmac-Sha256",
    encoding="base64",
    id_header="X-Shopify-Webhook-Id",
    topic_header="X-Shopify-Topic",
    topics=("orders/create", "orders/updated", "customers/create", "customers/update",
            "customers/redact", "shop/redact", "customers/data_request"),
    mapper=webhook_mapper,
)

SHOPIFY = SourceSpec(
    name="shopify",
    description="Shopify (Admin GraphQL): customers with marketing consent and orders with "
                "lines, refunds and channels; incremental, bulk operations for first syncs",
    config=ShopifyConfig,
    open=open_source,
    webhook=WEBHOOK,
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(SHOPIFY)

