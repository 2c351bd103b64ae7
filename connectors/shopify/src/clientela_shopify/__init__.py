"""clientela-shopify: the Shopify source plugin (Admin GraphQL API)."""

from __future__ import annotations

from collections.abc import Callable

from clientela.hookspecs import hookimpl
from clientela.sources.api import SourceSpec
from clientela_shopify.config import API_VERSION, ShopifyConfig
from clientela_shopify.graphql import GraphQLError
from clientela_shopify.source import ShopifySource, build_source, open_source

__version__ = "0.1.0"
__all__ = ["API_VERSION", "SHOPIFY", "GraphQLError", "ShopifyConfig", "ShopifySource",
           "build_source", "register_sources"]

SHOPIFY = SourceSpec(
    name="shopify",
    description="Shopify (Admin GraphQL): customers with marketing consent and orders with "
                "lines, refunds and channels; incremental, bulk operations for first syncs",
    config=ShopifyConfig,
    open=open_source,
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(SHOPIFY)
