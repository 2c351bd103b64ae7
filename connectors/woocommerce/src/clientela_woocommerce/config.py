"""The `[sources.woocommerce]` section."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from clientela.sources.toolkit import ConnectorConfig

API_PATH = "/wp-json/wc/v3"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class WooCommerceConfig(ConnectorConfig):
    base_url: str = Field(description="The shop's address (https://shop.example.com) or its "
                                      "REST root (…/wp-json/wc/v3).")
    consumer_key: SecretStr
    consumer_secret: SecretStr
    auth: Literal["basic", "query"] = Field(
        default="basic",
        description="'query' sends the keys as query parameters, for hosts that drop the "
                    "Authorization header; both need HTTPS.")
    per_page: int = Field(default=100, ge=1, le=100)
    customer_role: str = Field(default="all", description="Customers endpoint `role` filter.")
    consent_meta_key: str | None = Field(
        default="mailchimp_woocommerce_is_subscribed",
        description="Customer meta holding e-mail opt-in ('1'/'0', 'yes'/'no'); None: unknown.")
    status_map: dict[str, str] = Field(
        default_factory=dict, description="Extra order statuses (from plugins) -> canonical.")
    fx_rates: dict[str, Decimal] = Field(
        default_factory=dict, description="Currency -> reporting-currency units per unit.")
    store_id: str | None = None
    source_name: str = "woocommerce"

    @field_validator("base_url")
    @classmethod
    def _api_root(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected an address such as https://shop.example.com")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise ValueError("WooCommerce keys travel only over HTTPS (OAuth 1.0a over plain "
                             "HTTP is not supported); use an https:// address")
        return value if "/wp-json/" in value else value + API_PATH
