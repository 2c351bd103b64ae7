"""The `[sources.shopify]` section."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from clientela.sources.toolkit import ConnectorConfig

API_VERSION = "2025-01"
"""Pinned: Shopify retires a version a year after release, and fields move between them."""
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ShopifyConfig(ConnectorConfig):
    base_url: str = Field(description="The shop's address: https://{shop}.myshopify.com "
                                      "(or a proxy, or a local fake).")
    access_token: SecretStr = Field(description="Admin API access token (shpat_...), sent as "
                                                "X-Shopify-Access-Token.")
    api_version: str = Field(default=API_VERSION, pattern=r"^\d{4}-\d{2}$|^unstable$")
    orders_per_page: int = Field(
        default=50, ge=1, le=250,
        description="Orders per query; with `lines_per_order` it sets the query cost, which "
                    "must stay under the bucket size.")
    lines_per_order: int = Field(
        default=10, ge=1, le=250,
        description="Lines read with each order; an order with more is completed by "
                    "follow-up queries.")
    customers_per_page: int = Field(default=250, ge=1, le=250)
    bulk: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="First sync of a stream through a bulk operation: 'auto' when the store "
                    "holds at least `bulk_threshold` records.")
    bulk_threshold: int = Field(default=20_000, ge=0)
    bulk_poll_seconds: float = Field(default=5.0, gt=0, description="First poll interval.")
    bulk_poll_max_seconds: float = Field(default=30.0, gt=0)
    pace: bool = Field(default=True, description="Wait for the cost bucket instead of "
                                                 "running into THROTTLED answers.")
    channel_map: dict[str, str] = Field(
        default_factory=dict, description="Extra `sourceName` -> channel labels.")
    fx_rates: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Shop currency -> reporting-currency units per unit.")
    store_ref: str | None = Field(
        default=None, description="`store_id` for orders without a retail location (online).")
    source_name: str = "shopify"

    @field_validator("base_url")
    @classmethod
    def _shop_root(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if "://" not in value:
            value = "https://" + value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected an address such as https://my-shop.myshopify.com")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise ValueError("the access token travels only over HTTPS; use an https:// address")
        return f"{parts.scheme}://{parts.netloc}{parts.path.split('/admin')[0]}"

    @property
    def graphql_path(self) -> str:
        return f"admin/api/{self.api_version}/graphql.json"
